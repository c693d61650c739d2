"""Where things live inside a store folder (see store/SCHEMA.md)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FORMAT_NAME = "bottleneck-feature-store"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1 is read as it is and upgraded in place by the first writer


@dataclass(frozen=True)
class StoreLayout:
    root: Path

    @property
    def marker(self) -> Path:
        return self.root / "store.json"

    @property
    def upgrade_lock(self) -> Path:
        return self.root / "upgrade.lock"

    @property
    def configs_dir(self) -> Path:
        return self.root / "configs"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    def dataset_dir(self, name: str) -> Path:
        return self.datasets_dir / name

    def config_dir(self, config_id: str) -> Path:
        return self.configs_dir / config_id

    def config_file(self, config_id: str) -> Path:
        return self.config_dir(config_id) / "config.json"

    def shards_dir(self, config_id: str) -> Path:
        return self.config_dir(config_id) / "shards"

    def runs_dir(self, config_id: str) -> Path:
        return self.config_dir(config_id) / "runs"

    def partial_dir(self, config_id: str, dataset: str) -> Path:
        return self.config_dir(config_id) / "partial" / dataset

    def lock_file(self, config_id: str) -> Path:
        return self.config_dir(config_id) / "writer.lock"

"""Where things live inside a store folder (see store/SCHEMA.md)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FORMAT_NAME = "bottleneck-feature-store"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class StoreLayout:
    root: Path

    @property
    def marker(self) -> Path:
        return self.root / "store.json"

    @property
    def configs_dir(self) -> Path:
        return self.root / "configs"

    def config_dir(self, config_id: str) -> Path:
        return self.configs_dir / config_id

    def config_file(self, config_id: str) -> Path:
        return self.config_dir(config_id) / "config.json"

    def shards_dir(self, config_id: str) -> Path:
        return self.config_dir(config_id) / "shards"

    def runs_dir(self, config_id: str) -> Path:
        return self.config_dir(config_id) / "runs"

    def lock_file(self, config_id: str) -> Path:
        return self.config_dir(config_id) / "writer.lock"

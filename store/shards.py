"""Shard files: one HDF5 file per batch of work, committed by a marker written last.

Protocol (after rom1504/img2dataset): write `<name>.h5` under a temporary name,
rename it into place, then write `<name>.commit.json`. A shard without its
marker is not part of the store, so a kill at any moment loses only the shard
in flight and never exposes a torn one.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from store import atomic
from store.errors import StoreError
from store.integrity import check_shard, file_sha256, open_own, read_rows  # file_sha256: re-exported
from store.paths import confine

HASH_DTYPE = "S64"
MARKER_SUFFIX = ".commit.json"


def new_shard_name() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"shard-{stamp}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class ShardContent:
    """What one shard holds: features keyed by content hash, and known-bad files."""

    hashes: list[str]
    features: np.ndarray
    rejected_hashes: list[str]
    rejected_reasons: list[str]


def write_shard(shards_dir: Path, config_id: str, content: ShardContent) -> str:
    """Write, publish and commit one shard; returns its name."""
    if len(content.hashes) != len(content.features):
        raise ValueError(
            f"hashes and features must align. Received: {len(content.hashes)} hashes, "
            f"{len(content.features)} feature rows"
        )
    name = new_shard_name()
    final = shards_dir / f"{name}.h5"
    with atomic.staged_file(final) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["config_id"] = config_id
            # Fletcher-32 on each chunk: HDF5 then fails the read of damaged bytes (store.integrity).
            checked = {"fletcher32": True} if len(content.hashes) else {}
            f.create_dataset("hashes", data=np.array(content.hashes, dtype=HASH_DTYPE), **checked)
            f.create_dataset("features", data=content.features, **checked)
            f.create_dataset("rejected_hashes", data=np.array(content.rejected_hashes, dtype=HASH_DTYPE))
            f.create_dataset(
                "rejected_reasons", data=content.rejected_reasons,
                dtype=h5py.string_dtype(encoding="utf-8"),
            )
        checksum = file_sha256(tmp)
    atomic.write_json(shards_dir / f"{name}{MARKER_SUFFIX}", {
        "shard": final.name,
        "config_id": config_id,
        "count": len(content.hashes),
        "rejected": len(content.rejected_hashes),
        "bytes": final.stat().st_size,
        "sha256": checksum,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(),
    })
    return name


def committed_shards(shards_dir: Path) -> list[tuple[Path, dict]]:
    """Committed shards in name order (time order), each with its marker."""
    if not shards_dir.is_dir():
        return []
    shards = []
    for marker_path in sorted(shards_dir.glob(f"*{MARKER_SUFFIX}")):
        marker = atomic.read_json(marker_path)
        shard_path = confine(shards_dir, str(marker.get("shard", "")), f"shard named by {marker_path.name}")
        if shard_path.name != marker_path.name.replace(MARKER_SUFFIX, ".h5") or shard_path.parent != shards_dir:
            raise StoreError(f"Shard marker {marker_path} names a foreign file. Received: {marker['shard']!r}")
        if shard_path.exists():
            shards.append((shard_path, marker))
    return shards


def uncommitted_files(shards_dir: Path) -> list[Path]:
    """Shard files with no marker, and temporary files of dead writers of this host: safe to delete
    when no writer holds the configuration (under its exclusive writer lock)."""
    if not shards_dir.is_dir():
        return []
    committed = {path.name for path, _ in committed_shards(shards_dir)}
    orphans = [p for p in sorted(shards_dir.glob("shard-*.h5")) if p.name not in committed]
    return orphans + [t.path for t in atomic.stale_temporaries(shards_dir) if t.state == "dead"]


def delete_uncommitted(shards_dir: Path) -> list[Path]:
    """Delete what `uncommitted_files` lists; the caller holds the exclusive writer lock."""
    leftovers = uncommitted_files(shards_dir)
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    return leftovers


def check_committed(shard_path: Path) -> None:
    """A committed shard against its marker before its features are read (store.integrity.check_shard:
    HDF5's Fletcher-32 checks chunks as they are read; a shard written before it, the marker's sha256 once
    per process); a shard not yet committed has no marker to hold it to."""
    marker_path = shard_path.with_name(shard_path.name.replace(".h5", MARKER_SUFFIX))
    if marker_path.is_file():
        check_shard(shard_path, atomic.read_json(marker_path))


def read_shard(shard_path: Path, rows: list[int] | None = None) -> ShardContent:
    """A shard's content (all feature rows, or those at `rows`, in the order given), checked first."""
    check_committed(shard_path)
    with open_own(shard_path) as f:
        hashes = [h.decode() for h in f["hashes"][:]]
        if rows is None:
            features = f["features"][:]
        else:
            wanted, inverse = np.unique(np.asarray(rows, dtype=np.int64), return_inverse=True)
            features = read_rows(f["features"], wanted)[inverse]
            hashes = [hashes[i] for i in rows]
        rejected = [h.decode() for h in f["rejected_hashes"][:]]
        reasons = [r.decode() if isinstance(r, bytes) else r for r in f["rejected_reasons"][:]]
    return ShardContent(hashes, features, rejected, reasons)


def shard_config_id(shard_path: Path) -> str | None:
    with open_own(shard_path) as f:
        value = f.attrs.get("config_id")
    return None if value is None else str(value)


def read_keys(shard_path: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The hashes of a shard's feature rows, and its rejected hashes with reasons."""
    with open_own(shard_path) as f:
        hashes = f["hashes"][:]
        rejected = f["rejected_hashes"][:]
        reasons = [r.decode() if isinstance(r, bytes) else r for r in f["rejected_reasons"][:]]
    return hashes, rejected, reasons

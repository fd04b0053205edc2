"""On-disk layout of one embedded collection, its sidecar record and crash recovery.

    <data_dir>/collections/<name>/
        collection.json   ModelSetRecord + created_at; written last on create, removed first on
                          delete, so a directory without it is a half-created or half-deleted
                          collection and is discarded at startup.
        shard/            the live qdrant-edge shard (the only one ever served)
        shard.building/   a copy being indexed by a child process (see indexer.py)
        shard.old/        the previous live shard during the swap that ends an index build

The swap is two renames: shard -> shard.old, then shard.building -> shard. The building copy
has every acknowledged write (the journal is replayed and flushed into it before the first
rename), and shard.old has them too (its WAL), so whichever of the two a crash leaves
behind is a complete shard. `recover` settles every possible leftover state.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from imagesearch.store.base import ModelSetRecord, ModerationPolicy, OcrPolicy
from imagesearch.store.records import model_set_from_dict, model_set_to_dict

SIDECAR_NAME = "collection.json"


@dataclass(frozen=True)
class CollectionPaths:
    """Where one collection's files live."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def sidecar(self) -> Path:
        return self.root / SIDECAR_NAME

    @property
    def shard(self) -> Path:
        return self.root / "shard"

    @property
    def building(self) -> Path:
        return self.root / "shard.building"

    @property
    def old(self) -> Path:
        return self.root / "shard.old"


@dataclass(frozen=True)
class Sidecar:
    """What a collection records next to its shard."""

    model_set: ModelSetRecord
    created_at: float
    moderation: ModerationPolicy = ModerationPolicy()
    ocr: OcrPolicy = OcrPolicy()
    description: str = ""


def write_sidecar(paths: CollectionPaths, sidecar: Sidecar) -> None:
    """Write collection.json atomically (temp file, fsync, rename, fsync of the directory)."""
    body = json.dumps(
        {
            "model_set": model_set_to_dict(sidecar.model_set),
            "created_at": sidecar.created_at,
            **sidecar.moderation.to_dict(),
            **sidecar.ocr.to_dict(),
            "description": sidecar.description,
        },
        indent=2,
    )
    tmp = paths.sidecar.with_suffix(".json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, paths.sidecar)
    fsync_dir(paths.root)


def read_sidecar(paths: CollectionPaths) -> Sidecar:
    """Read collection.json; raises OSError/ValueError/KeyError when missing or corrupt."""
    raw = json.loads(paths.sidecar.read_text(encoding="utf-8"))
    return Sidecar(
        model_set=model_set_from_dict(raw),
        created_at=float(raw["created_at"]),
        moderation=ModerationPolicy.from_dict(raw),
        ocr=OcrPolicy.from_dict(raw),
        # Written since v1 of the API; older sidecars have none.
        description=str(raw.get("description", "")),
    )


def fsync_dir(path: Path) -> None:
    """Make renames and creations inside `path` survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(paths: CollectionPaths) -> None:
    """Bring a collection directory back to `shard/` only, after a crash at any point."""
    if not paths.shard.exists() and paths.old.exists():
        # Died between the two renames of a swap: the old live shard is complete.
        os.replace(paths.old, paths.shard)
    for leftover in (paths.building, paths.old):
        if leftover.exists():
            shutil.rmtree(leftover)
    fsync_dir(paths.root)


def swap_in_building(paths: CollectionPaths) -> None:
    """Replace the live shard directory by the indexed copy (both closed by the caller)."""
    os.replace(paths.shard, paths.old)
    os.replace(paths.building, paths.shard)
    fsync_dir(paths.root)
    shutil.rmtree(paths.old)

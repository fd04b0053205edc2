"""On-disk layout of one embedded collection, its sidecar record and crash recovery.

    <data_dir>/collections/<name>/
        collection.json   ModelSetRecord + created_at; written last on create, removed first on
                          delete, so a directory without it is a half-created or half-deleted
                          collection and is discarded at startup.
        shard/            the live qdrant-edge shard (the only one ever served)
        shard.building/   a copy being indexed by a child process (see indexer.py)
        build.journal     writes made during that build, replayed into the copy (journal.py)
        shard.old/        the previous live shard, kept until the new one has loaded
        shard.trash/      a directory being deleted (renamed first, so that a half-deleted
                          directory never carries a name recovery would trust)

The swap (`swap_in_building`) is two renames: shard -> shard.old, then shard.building ->
shard. The building copy has every acknowledged write (the journal is replayed and flushed
into it before the first rename), and shard.old has them too (its WAL), so whichever of the
two a crash leaves behind is a complete shard. shard.old is removed only once the new shard
has loaded (`open_live_shard`) and before any write reaches it; if the new shard does not
load, shard.old becomes the live shard again. States a crash can leave, and what start-up
does (`recover`, then `open_live_shard`):

    shard + building (+ journal)   the swap had not begun: drop the copy and the journal
    old + building                 between the renames: old -> shard, drop the copy
    shard + old                    new shard in place, not yet loaded: load it, then drop
                                   old; if it does not load, drop it and bring old back
    shard + trash                  a deletion was under way: finish it
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from qdrant_edge import EdgeShard

from imagesearch.store.base import ModelSetRecord, ModerationPolicy, OcrPolicy, ScorePin
from imagesearch.store.format import COLLECTION_FORMAT_VERSION, check_collection_version
from imagesearch.store.records import model_set_from_dict, model_set_to_dict

SIDECAR_NAME = "collection.json"

log = logging.getLogger(__name__)


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

    @property
    def trash(self) -> Path:
        return self.root / "shard.trash"

    @property
    def journal(self) -> Path:
        return self.root / "build.journal"


@dataclass(frozen=True)
class Sidecar:
    """What a collection records next to its shard."""

    model_set: ModelSetRecord
    created_at: float
    moderation: ModerationPolicy = ModerationPolicy()
    ocr: OcrPolicy = OcrPolicy()
    description: str = ""
    keep_originals: bool = False  # originals.py; format 2 and later
    score_pin: ScorePin = ScorePin()  # absent from records written before pins: None


def write_sidecar(paths: CollectionPaths, sidecar: Sidecar) -> None:
    """Write collection.json atomically (temp file, fsync, rename, fsync of the directory)."""
    body = json.dumps(
        {
            "model_set": model_set_to_dict(sidecar.model_set),
            "created_at": sidecar.created_at,
            **sidecar.moderation.to_dict(),
            **sidecar.ocr.to_dict(),
            **sidecar.score_pin.to_dict(),
            "description": sidecar.description,
            "keep_originals": sidecar.keep_originals,
            "format_version": COLLECTION_FORMAT_VERSION,
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
    check_collection_version(paths.name, raw)
    return Sidecar(
        model_set=model_set_from_dict(raw),
        created_at=float(raw["created_at"]),
        moderation=ModerationPolicy.from_dict(raw),
        ocr=OcrPolicy.from_dict(raw),
        # Written since v1 of the API; older sidecars have none.
        description=str(raw.get("description", "")),
        keep_originals=bool(raw.get("keep_originals", False)),
        score_pin=ScorePin.from_dict(raw),
    )


def fsync_dir(path: Path) -> None:
    """Make renames and creations inside `path` survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def recover(paths: CollectionPaths) -> None:
    """Settle the renames a crash interrupted; leaves `shard/`, plus `shard.old/` when the
    new shard of a swap still has to prove it loads (see open_live_shard)."""
    if not paths.shard.exists() and paths.old.exists():
        # Died between the two renames of a swap: the old live shard is complete.
        os.replace(paths.old, paths.shard)
    for leftover in (paths.building, paths.trash):
        if leftover.exists():
            shutil.rmtree(leftover)
    paths.journal.unlink(missing_ok=True)
    fsync_dir(paths.root)


def open_live_shard(paths: CollectionPaths) -> tuple[EdgeShard, bool]:
    """Load `shard/` (after recover). If it does not load and `shard.old/` is there, the
    swapped-in shard is dropped and the old one loaded instead; returns the shard and
    whether that fallback happened. `shard.old/` is gone once this returns."""
    try:
        shard = EdgeShard.load(str(paths.shard))
    except Exception:  # noqa: BLE001 - the engine raises its own error types for a bad shard
        if not paths.old.exists():
            raise
        log.exception("the new shard of %s does not load; going back to the previous one", paths.root)
        discard(paths, paths.shard)
        os.replace(paths.old, paths.shard)
        fsync_dir(paths.root)
        return EdgeShard.load(str(paths.shard)), True
    if paths.old.exists():
        discard(paths, paths.old)
    return shard, False


def discard(paths: CollectionPaths, directory: Path) -> None:
    """Delete a shard directory: rename it to shard.trash/ first, so that a crash halfway
    through never leaves a partial directory under a name recovery would load."""
    if paths.trash.exists():
        shutil.rmtree(paths.trash)
    os.replace(directory, paths.trash)
    fsync_dir(paths.root)
    shutil.rmtree(paths.trash)


def swap_in_building(paths: CollectionPaths) -> None:
    """Move the indexed copy into place, keeping the old live shard as shard.old/ until the
    new one has loaded (both closed by the caller; open_live_shard finishes the swap)."""
    os.replace(paths.shard, paths.old)
    os.replace(paths.building, paths.shard)
    fsync_dir(paths.root)

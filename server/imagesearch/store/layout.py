"""On-disk layout of one embedded collection, its sidecar record and crash recovery.

    <data_dir>/collections/<name>/
        collection.json   ModelSetRecord + created_at; written last on create, removed first on
                          delete, so a directory without it is a half-created or half-deleted
                          collection and is discarded at startup.
        live_shard        the name of the live shard directory, "shard" or "shard.alt"
                          (absent: "shard"); replaced atomically by an index swap
        shard/            a qdrant-edge shard: the live one, or the other one of a build
        shard.alt/        the same; whichever of the two is not live is a copy being indexed
                          by a child process (see indexer.py), or the previous live shard
                          not yet deleted
        build.journal     writes made during that build, replayed into the copy (journal.py)
        shard.trash/      a directory being deleted (renamed first, so that a half-deleted
                          directory never carries a name recovery would trust)

A swap never renames a shard directory: the engine keeps the path of an open shard and
writes under it, so the serving process loads the built copy where it is, while the old
shard still serves, and a swap is a change of reference plus one write of `live_shard`
(indexer.py). The built copy has every acknowledged write (the journal is replayed and
flushed into it, with writes blocked until `live_shard` names it), and the old shard has
them too (its WAL), so whichever of the two `live_shard` names after a crash is complete;
start-up (`recover`) deletes the other one.

Data dirs of earlier versions may hold `shard.building/` (a copy being indexed) or
`shard.old/` (the previous live shard of a rename swap) after a crash; recovery settles them:

    shard + shard.building (+ journal)   the swap had not begun: drop the copy and the journal
    shard.old + shard.building           between the renames: old -> shard, drop the copy
    shard + shard.old                    new shard in place, not yet loaded: load it, then drop
                                         old; if it does not load, drop it and bring old back
    shard + trash                        a deletion was under way: finish it
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
from imagesearch.store.shard_files import load_shard

SIDECAR_NAME = "collection.json"
LIVE_FILE = "live_shard"
SHARD_NAMES = ("shard", "shard.alt")

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
    def live_file(self) -> Path:
        return self.root / LIVE_FILE

    def _live_name(self) -> str:
        try:
            name = self.live_file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return SHARD_NAMES[0]
        if name not in SHARD_NAMES:
            raise ValueError(f"{self.live_file} names {name!r}, not one of {', '.join(SHARD_NAMES)}")
        return name

    @property
    def shard(self) -> Path:
        """The live shard's directory (read from live_shard at each access)."""
        return self.root / self._live_name()

    @property
    def building(self) -> Path:
        """The other shard directory: where a build copies the live shard."""
        live = self._live_name()
        return self.root / next(name for name in SHARD_NAMES if name != live)

    @property
    def legacy_building(self) -> Path:
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
        # Died between the two renames of an earlier version's swap: the old live shard is complete.
        os.replace(paths.old, paths.shard)
    for leftover in (paths.building, paths.legacy_building, paths.trash):
        if leftover.exists():
            shutil.rmtree(leftover)
    paths.journal.unlink(missing_ok=True)
    fsync_dir(paths.root)


def open_live_shard(paths: CollectionPaths) -> tuple[EdgeShard, bool]:
    """Load the live shard (after recover). If it does not load and `shard.old/` is there, the
    swapped-in shard is dropped and the old one loaded instead; returns the shard and
    whether that fallback happened. `shard.old/` is gone once this returns."""
    try:
        shard = load_shard(paths.shard)
    except Exception:  # noqa: BLE001 - the engine raises its own error types for a bad shard
        if not paths.old.exists():
            raise
        log.exception("the new shard of %s does not load; going back to the previous one", paths.root)
        discard(paths, paths.shard)
        os.replace(paths.old, paths.shard)
        fsync_dir(paths.root)
        return load_shard(paths.shard), True
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


_WARM_CHUNK = 1 << 20


def _walked(path: Path) -> bool:
    """A file every query reads from all over: the int8 copy, the graph, the id tracker.
    Not the float vectors (only a query's few rescored candidates read them; at 1M they
    are 4.9 GB) nor the payloads (only the hits')."""
    return (
        path.name.startswith(("quantized", "id_tracker", "deleted"))
        or path.parent.name.startswith("vector_index")
    )


def warm_page_cache(shard_dir: Path) -> int:
    """Read the files of a loaded shard's segments that queries walk (the int8 copy, the
    graph links and the id tracker: `_walked`) into the page cache,
    so that the first queries after a swap take minor page faults instead of disk reads.
    The engine's load drops them from the cache (posix_fadvise DONTNEED) and maps them.
    Plain reads release the GIL: run in a worker thread, requests go on. Returns bytes read."""
    buffer = bytearray(_WARM_CHUNK)
    total = 0
    for path in sorted((shard_dir / "segments").rglob("*")):
        if not _walked(path) or not path.is_file():
            continue
        try:
            with open(path, "rb", buffering=0) as f:
                while read := f.readinto(buffer):
                    total += read
        except OSError:
            continue  # a file the engine replaced meanwhile: warming is best effort
    return total


def make_live(paths: CollectionPaths, directory: Path) -> None:
    """Record `directory` (one of SHARD_NAMES, loaded) as the live shard: temp file, fsync,
    rename, fsync of the directory, so a crash leaves the old name or the new one."""
    if directory.parent != paths.root or directory.name not in SHARD_NAMES:
        raise ValueError(f"{directory} is not a shard directory of {paths.root}")
    tmp = paths.live_file.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(directory.name)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, paths.live_file)
    fsync_dir(paths.root)

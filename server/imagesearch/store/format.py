"""On-disk format versions of the data dir and of each embedded collection.

    <data_dir>/format.json                   {"format_version": N, "written_by": "imagesearch X"}
    <data_dir>/collections/<c>/collection.json   carries "format_version": N

Version 1 is what the code before versions wrote: no format.json, no "format_version" key.
Version 2 added: format.json, "format_version" and "keep_originals" in collection.json, the
optional `originals/` folder of a collection and `<data_dir>/aliases.json`.
Version 3 added: the `live_shard` file naming the live shard directory, which an index
swap alternates between `shard/` and `shard.alt/` (layout.py); "score_calibration_version"
in collection.json (absent: offline/v1, base.ScorePin); the optional `turn_hash` in a
point's fingerprint payload. A format-2 server would load `shard/` even where `live_shard`
names `shard.alt/` (serving a stale copy and then deleting the live one at recovery), so
the bump makes it refuse the data dir with FormatTooNew instead. Nothing on disk needs
rewriting from 2 to 3: an absent `live_shard` means `shard/`, an absent pin means v1, an
absent turn_hash is filled by re-processing (FILL, from the stored thumbnail) and computed
on the fly by FindDuplicates (dedup/turnhash.py).

A version this code does not know (newer) is refused with FormatTooNew naming the version
needed; older versions are migrated forward by migrations.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from imagesearch.store.base import StoreError

DATA_FORMAT_VERSION = 3
COLLECTION_FORMAT_VERSION = 3
# The record a remote Qdrant collection keeps in its metadata (remote_cache.py) has its own
# version: format 3 changed the embedded layout, while the metadata only gained the score
# pin, which format-2 code ignores. Writing 3 there would make format-2 API pods refuse
# every collection a format-3 pod created or updated during a rolling upgrade; raise this
# only when the metadata changes in a way older code would misread.
REMOTE_COLLECTION_FORMAT_VERSION = 2
FORMAT_FILE = "format.json"
FORMAT_KEY = "format_version"
# What format.json is missing from: a data dir written before versions existed.
UNVERSIONED = 1


class FormatError(StoreError):
    """The data dir's format cannot be served by this code."""


class FormatTooNew(FormatError):
    """The data dir (or a collection) was written by a newer imagesearch."""

    def __init__(self, what: str, found: int, supported: int) -> None:
        self.what, self.found, self.supported = what, found, supported
        super().__init__(
            f"{what} has on-disk format version {found}; this imagesearch reads formats up to "
            f"{supported}: run an imagesearch that supports format {found} or later"
        )


class FormatUnreadable(FormatError):
    """format.json or a collection record is not what any version writes."""


def written_by() -> str:
    """The software that writes a format file (for the operator reading it)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"imagesearch {version('imagesearch')}"
    except PackageNotFoundError:
        return "imagesearch (source checkout)"


def write_json_atomic(path: Path, body: dict[str, Any]) -> None:
    """Write `path` so that a crash leaves the old content or the new, never a mix: temp
    file, fsync, rename, fsync of the directory."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(body, indent=2, sort_keys=True))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_data_dir_version(data_dir: Path) -> int | None:
    """The data dir's format version; None for a new (empty) data dir, 1 for one written
    before versions existed; FormatUnreadable if format.json is corrupt."""
    marker = Path(data_dir) / FORMAT_FILE
    if marker.exists():
        try:
            return int(json.loads(marker.read_text(encoding="utf-8"))[FORMAT_KEY])
        except (ValueError, KeyError, TypeError) as error:
            raise FormatUnreadable(f"{marker} is unreadable ({error}); restore it from a backup") from error
    collections = Path(data_dir) / "collections"
    if collections.is_dir() and any(collections.iterdir()):
        return UNVERSIONED
    return None


def write_data_dir_version(data_dir: Path, version: int = DATA_FORMAT_VERSION) -> None:
    """Record the data dir's format version (atomically)."""
    write_json_atomic(Path(data_dir) / FORMAT_FILE, {FORMAT_KEY: version, "written_by": written_by()})


def collection_version(raw: dict[str, Any]) -> int:
    """The format version of a parsed collection.json (1 when it has none)."""
    return int(raw.get(FORMAT_KEY, UNVERSIONED))


def check_collection_version(name: str, raw: dict[str, Any]) -> None:
    """FormatTooNew unless this code reads the collection record as it is (migrated)."""
    found = collection_version(raw)
    if found > COLLECTION_FORMAT_VERSION:
        raise FormatTooNew(f"collection {name!r}", found, COLLECTION_FORMAT_VERSION)
    if found < COLLECTION_FORMAT_VERSION:
        raise FormatError(f"collection {name!r} is at format {found}: open the data dir through migrations.prepare_data_dir")

"""The original image bytes of a collection's items, for collections created with
keep_originals (off by default): what re-processing re-runs the models on.

One file per item under `<collection dir>/originals/<uuid[:2]>/<uuid>` (the item's shard
UUID: caller ids are free-form), beside the engine's shard, so the collection's deletion,
snapshot and restore carry them. Disk cost: the images' own size (Corel-1K's JPEGs average
31 KB; a 12 MP phone photo is 3-5 MB) plus a 4 KB filesystem block minimum each, against
~7 KB per item of vectors and payload for the offline set; so originals usually dominate.

Writes go to a temp name then rename, so a crash never leaves a half-written original; they
are not fsynced, like the engine's WAL appends (durable against a process crash, not a
power loss). An original is written before its item and deleted after it, so an item never
lacks its original; a crash in between leaves an orphan file, which the next write of the
same id replaces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

ORIGINALS_DIR = "originals"


@dataclass(frozen=True)
class OriginalsUsage:
    """How many originals a collection keeps and their size on disk."""

    count: int
    bytes: int


class OriginalsStore:
    """The originals folder of one collection."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, uuid: str) -> Path:
        return self.root / uuid[:2] / uuid

    def put(self, uuid: str, data: bytes) -> None:
        """Store (or replace) the original of item `uuid`."""
        path = self._path(uuid)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def get(self, uuid: str) -> bytes | None:
        """The original of item `uuid`, or None when it has none."""
        try:
            return self._path(uuid).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, uuids: list[str]) -> None:
        """Remove the originals of deleted items (missing ones are ignored)."""
        for uuid in uuids:
            self._path(uuid).unlink(missing_ok=True)

    def uuids(self) -> Iterator[str]:
        """Every item UUID with an original."""
        if not self.root.is_dir():
            return
        for bucket in sorted(self.root.iterdir()):
            for path in sorted(bucket.iterdir()):
                if not path.name.endswith(".tmp"):
                    yield path.name

    def usage(self) -> OriginalsUsage:
        """Count and bytes (walks the folder: for admin calls, not per request)."""
        count = size = 0
        for uuid in self.uuids():
            count += 1
            size += self._path(uuid).stat().st_size
        return OriginalsUsage(count, size)

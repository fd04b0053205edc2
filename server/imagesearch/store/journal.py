"""The writes a collection receives while its index is built on a copy, in a form that
crosses a process boundary.

qdrant-edge's UpdateOperation cannot be pickled, and loading a shard holds the GIL for
seconds at 100k points. So the writes are journaled as these plain records, and the
build's child process (indexer.py) replays them into the built copy: the serving process
then loads the copy once, as its new live shard, instead of once more to replay.

The records go to a file as they come (`JournalFile`), not to a list: an insert of the
offline set journals ~70 KB of Python floats, so a 21-minute build at 130 inserts/s held
over 10 GB in memory and pickled it on the event loop, under the write lock, at the swap
(issue 10). Each record is pickled and written in a worker thread when it is made (the
write lock is held meanwhile, so the file order is the order applied); the child reads the
file one record at a time. The file is bounded too (IndexSettings.journal_max_bytes): past
the bound the build is abandoned (`JournalOverflow`), since the live shard has every write
anyway, and the next build starts from a fresh copy.
"""

from __future__ import annotations

import asyncio
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Union

from qdrant_edge import EdgeShard, Point, UpdateOperation

from imagesearch.store.edge_filter import EDGE_SCHEMAS
from imagesearch.store.filters import IndexType


@dataclass(frozen=True)
class StoredPointData:
    """One point as the shard keeps it: its UUID, a checked vector per space (the float
    lists the engine takes), its payload."""

    uuid: str
    vectors: dict[str, list[float]]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Upsert:
    """Insert or replace points."""

    points: tuple[StoredPointData, ...]

    def operation(self) -> UpdateOperation:
        """The engine's operation."""
        return UpdateOperation.upsert_points(
            [Point(p.uuid, p.vectors, p.payload) for p in self.points]
        )


@dataclass(frozen=True)
class Delete:
    """Delete points by UUID."""

    uuids: tuple[str, ...]

    def operation(self) -> UpdateOperation:
        """The engine's operation."""
        return UpdateOperation.delete_points(list(self.uuids))


@dataclass(frozen=True)
class CreateFieldIndex:
    """Create a payload index on `path`."""

    path: str
    kind: IndexType

    def operation(self) -> UpdateOperation:
        """The engine's operation."""
        return UpdateOperation.create_field_index(self.path, EDGE_SCHEMAS[self.kind])


Write = Union[Upsert, Delete, CreateFieldIndex]


def replay(shard: EdgeShard, writes: Iterable[Write]) -> int:
    """Apply `writes` to `shard` in order; returns how many there were."""
    count = 0
    for write in writes:
        shard.update(write.operation())
        count += 1
    return count


# Each record: its pickle's length (8 bytes, big-endian), then the pickle.
_LENGTH = struct.Struct(">Q")


class JournalFile:
    """The writes of one build, appended to a file off the event loop, up to a size bound.

    A write that cannot be journaled (the bound is passed, the disk is full) is not an
    error for the writer (the live shard has it); it dooms the build, which `failed`
    tells the build to stop waiting for.
    """

    def __init__(self, path: Path, max_bytes: int, file: BinaryIO) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._file = file
        self.count = 0
        self.size = 0
        self.failure: str | None = None
        self.failed = asyncio.Event()

    @classmethod
    async def create(cls, path: Path, max_bytes: int) -> "JournalFile":
        """A new, empty journal at `path` (an old one there is replaced)."""
        file = await asyncio.to_thread(open, path, "wb")
        return cls(path, max_bytes, file)

    async def append(self, write: Write) -> None:
        """Journal `write` (the caller holds the collection's write lock)."""
        if self.failure is not None:
            return
        try:
            self.size += await asyncio.to_thread(self._append, write)
        except (OSError, ValueError) as exc:  # ValueError: the file was closed by a cancelled build
            self._fail(f"cannot write the index build journal {self.path}: {exc}")
            return
        self.count += 1
        if self.size > self.max_bytes:
            self._fail(
                f"the writes made during the index build passed {self.max_bytes} bytes of journal "
                "(setting index_journal_max_mb); the build is abandoned and will be retried"
            )

    def _append(self, write: Write) -> int:
        record = pickle.dumps(write, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(_LENGTH.pack(len(record)))
        self._file.write(record)
        return _LENGTH.size + len(record)

    def _fail(self, reason: str) -> None:
        self.failure = reason
        self.failed.set()

    async def finish(self) -> None:
        """Flush what was written, for the child to read (no fsync: after a crash the copy
        it belongs to is discarded anyway)."""
        await asyncio.to_thread(self._file.close)

    async def discard(self) -> None:
        """Close and delete the file."""
        await asyncio.to_thread(self._discard)

    def _discard(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def read_journal(path: Path) -> Iterator[Write]:
    """The writes of a journal file, in order, one record in memory at a time."""
    with open(path, "rb") as file:
        while header := file.read(_LENGTH.size):
            (length,) = _LENGTH.unpack(header)
            yield pickle.loads(file.read(length))

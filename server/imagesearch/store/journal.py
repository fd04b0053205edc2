"""The writes a collection receives while its index is built on a copy, in a form that
crosses a process boundary.

qdrant-edge's UpdateOperation cannot be pickled, and loading a shard holds the GIL for
seconds at 100k points. So the writes are journaled as these plain records, and the
build's child process (indexer.py) replays them into the built copy: the serving process
then loads the copy once, as its new live shard, instead of once more to replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Union

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

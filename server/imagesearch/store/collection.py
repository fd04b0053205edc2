"""One open embedded collection: its live shard, the locks around it and the write journal.

Concurrency (measured with qdrant-edge-py 0.9.0): query(), count() and flush() hold the GIL
for their whole run, update() for roughly half of it, and concurrent calls from several
threads on one shard are safe. Shard calls go through asyncio.to_thread (`run`): it keeps
the event loop free whenever the binding does release the GIL, and keeps slow calls (query,
load, flush, close) off the loop thread. The exceptions are calls that take less than the
hop itself (0.1-0.6 ms of CPU at loads 1-11): the engine's info (~1 us) and an insert's
update (~50 us), which run in the loop's thread (`run_here`).

Two locks per collection:
- `write_lock` serialises writes, so the journal order is the order they were applied, and
  lets an index build freeze writes while it copies or swaps the shard;
- `access` (readers-writer) is held shared by every shard call and exclusively while the
  shard object is replaced or closed, so no call ever runs on a closed shard.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from qdrant_edge import (
    CountRequest,
    EdgeShard,
    PayloadSelector,
    Query,
    QueryRequest,
    ScrollRequest,
)

from imagesearch.store.base import (
    CollectionInfo,
    CollectionNotFound,
    ModelSetRecord,
    ModerationPolicy,
    OcrPolicy,
    ScorePin,
    PointToStore,
    ScoredHit,
    StoredPoint,
)
from imagesearch.store.edge_filter import to_edge
from imagesearch.store.filters import Filter, indexes_to_create, wanted_indexes
from imagesearch.store.journal import CreateFieldIndex, Delete, JournalFile, StoredPointData, Upsert, Write
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.points import (
    FINGERPRINT_KEY,
    ID_KEY,
    MAX_SEARCH_LIMIT,
    METADATA_KEY,
    check_point_id,
    check_vector,
    check_vectors,
    payload,
    payload_keys,
    point_uuid,
    scored_hit,
    search_space,
    stored_point,
)
from imagesearch.store.rwlock import RWLock
from imagesearch.store.shard_config import IndexSettings

log = logging.getLogger(__name__)

# Points written between two flushes of the live shard. The engine flushes segments only
# when asked, and until then keeps every write in its WAL (never truncated: a soak's shard
# grew 25 -> 111 MiB on disk in 7 minutes of ~400 writes a minute) and in dirty pages that
# the next flush writes while holding the GIL: the first flush of 100k unflushed 1280-d
# points, at an index build's copy step, held it 0.85 s (the longest query wait of that
# build, `python -m bench.build_contention`). A flush of 1,000 points holds it ~10-20 ms.
FLUSH_EVERY_POINTS = 1000
# ... or this many bytes of points, whichever comes first: the WAL can truncate only what a
# flush covers, and every byte of it stays mapped in the process (shard_files.py), so
# 1,000 offline-set points (~23 KB each with the fingerprint) meant 23 MiB of WAL pages.
# 8 MiB is ~350 such points: two WAL segments (shard_files.WAL_OPTIONS).
FLUSH_EVERY_BYTES = 8 << 20
# Writes of at most this many points run in the event loop's thread (run_here): one point's
# update takes ~50 us (its WAL append; median at load 12, p90 59 us), less than the hop to
# a worker thread, and writes to a collection run one at a time under its write_lock anyway.
# Larger batches (ImportItems) and index creations still go to a worker thread, so the loop
# never waits for them.
INLINE_WRITE_POINTS = 4


@dataclass
class LiveCollection:
    """An open collection; every method may raise CollectionNotFound once it is closed."""

    paths: CollectionPaths
    model_set: ModelSetRecord
    created_at: float
    settings: IndexSettings
    shard: EdgeShard
    moderation: ModerationPolicy = ModerationPolicy()
    ocr: OcrPolicy = OcrPolicy()
    description: str = ""
    score_pin: ScorePin = ScorePin()
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    access: RWLock = field(default_factory=RWLock)
    # Writes applied while an index build runs on a copy; None when no build is running.
    journal: JournalFile | None = None
    closed: bool = False
    # Payload paths with an index; read from the shard on first use, then kept up to date.
    indexed_paths: set[str] | None = None
    # Filtered-on paths left without an index by settings.max_filter_indexes.
    unindexed_paths: set[str] = field(default_factory=set)
    # Points upserted since the last index build started, and the point count then (None:
    # not read yet): the engine keeps a replaced or deleted point's old copy until a build
    # rewrites its segment, so upserts minus growth is the dead weight held (dead_points).
    upserts_since_build: int = 0
    points_at_build: int | None = None
    # Points upserted or deleted, and their approximate bytes, since the live shard was last
    # flushed (FLUSH_EVERY_POINTS, FLUSH_EVERY_BYTES).
    written_since_flush: int = 0
    bytes_since_flush: int = 0

    @property
    def name(self) -> str:
        return self.paths.name

    async def run(self, method: Any, *args: Any) -> Any:
        """Call a shard method in a worker thread while holding `access` shared.

        A cancelled caller (a call cut off at shutdown's grace period) still waits for the
        thread, which cannot be stopped, before it lets go of `access`: releasing it at once
        let close() close the shard under a write in flight, and the server died of SIGSEGV
        while draining an ImportItems stream (CI, tests/test_operations.py)."""
        async with self.access.shared():
            if self.closed:
                raise CollectionNotFound(self.name)
            return await _uncancellable(asyncio.ensure_future(asyncio.to_thread(method, self.shard, *args)))

    async def run_here(self, method: Any, *args: Any) -> Any:
        """Call a shard method in the event loop's thread while holding `access` shared: for
        calls that take microseconds, where the hop to a worker thread (0.1-0.6 ms of CPU
        at loads 1-11) would cost more than the call."""
        async with self.access.shared():
            if self.closed:
                raise CollectionNotFound(self.name)
            return method(self.shard, *args)

    async def apply(self, write: Write) -> None:
        """Apply a write (caller holds write_lock) and journal it if a build is running."""
        points, size = written(write)
        small = isinstance(write, (Upsert, Delete)) and points <= INLINE_WRITE_POINTS
        await (self.run_here if small else self.run)(EdgeShard.update, write.operation())
        if self.journal is not None:
            await self.journal.append(write)
        self.written_since_flush += points
        self.bytes_since_flush += size
        if self.written_since_flush >= FLUSH_EVERY_POINTS or self.bytes_since_flush >= FLUSH_EVERY_BYTES:
            await self.flush()

    async def flush(self) -> None:
        """Write the live shard's segments to disk, which lets the engine truncate its WAL
        (caller holds write_lock)."""
        await self.run(EdgeShard.flush)
        self.written_since_flush = self.bytes_since_flush = 0

    async def upsert(self, points: Sequence[PointToStore]) -> None:
        """Insert or replace points; durable (WAL) when this returns."""
        if not points:
            return
        shard_points = []
        for point in points:
            check_point_id(point.id)
            vectors = check_vectors(point.vectors, self.model_set)
            shard_points.append(StoredPointData(point_uuid(point.id), vectors, payload(point)))
        async with self.write_lock:
            await self.apply(Upsert(tuple(shard_points)))
            self.upserts_since_build += len(shard_points)

    async def delete(self, ids: Sequence[str]) -> int:
        """Delete points by caller id; returns how many existed."""
        uuids = list(dict.fromkeys(point_uuid(i) for i in ids))
        if not uuids:
            return 0
        async with self.write_lock:
            existing = await self.run(EdgeShard.retrieve, uuids, False, False)
            if existing:
                await self.apply(Delete(tuple(str(record.id) for record in existing)))
            return len(existing)

    async def ensure_indexes(self, flt: Filter | None) -> None:
        """Create the payload indexes `flt` wants that the shard lacks.

        An index is created once per key, typed after the first condition seen on it; a
        later condition of another type still works (the engine reads the payload). At most
        settings.max_filter_indexes caller keys get one (filters.indexes_to_create says why
        the others are filtered unindexed rather than refused).
        """
        wanted = wanted_indexes(flt)
        if not wanted or (
            self.indexed_paths is not None and wanted.keys() <= self.indexed_paths | self.unindexed_paths
        ):
            return
        async with self.write_lock:
            if self.indexed_paths is None:
                info = await self.run(EdgeShard.info)
                self.indexed_paths = set(info.payload_schema)
            create, skipped = indexes_to_create(wanted, self.indexed_paths, self.settings.max_filter_indexes)
            for path, kind in create.items():
                await self.apply(CreateFieldIndex(path, kind))
                self.indexed_paths.add(path)
            if skipped - self.unindexed_paths:
                log.warning(
                    "collection %s has %d filter indexes (setting max_filter_indexes); filtering on %s unindexed",
                    self.name, self.settings.max_filter_indexes, ", ".join(sorted(skipped - self.unindexed_paths)),
                )
                self.unindexed_paths |= skipped

    async def search(
        self,
        vector: np.ndarray,
        limit: int,
        min_score: float,
        space: str | None = None,
        flt: Filter | None = None,
        with_fingerprint: bool = False,
    ) -> list[ScoredHit]:
        """The `limit` nearest points in `space` (default: the first) scoring at least
        `min_score` and passing `flt`, best first."""
        if not 0 < limit <= MAX_SEARCH_LIMIT:
            raise ValueError(f"limit must be 1-{MAX_SEARCH_LIMIT}")
        using, dimension = search_space(self.model_set, space)
        await self.ensure_indexes(flt)
        request = QueryRequest(
            filter=to_edge(flt) if flt is not None else None,
            limit=limit,
            query=Query.Nearest(check_vector(vector, dimension), using=using),
            with_payload=PayloadSelector.Include(payload_keys(with_fingerprint)),
            # Only a positive threshold goes to the engine: with 0, negative cosines are
            # still results (clamped to score 0), as "score >= 0" promises.
            score_threshold=min_score if min_score > 0 else None,
            params=self.settings.search_params(),
        )
        hits = await self.run(EdgeShard.query, request)
        return [scored_hit(hit.payload, hit.score, with_fingerprint) for hit in hits]

    async def scroll(
        self, offset: str | None, limit: int, flt: Filter | None = None, with_vectors: bool = True
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points passing `flt`, by shard point id from `offset`; with vectors
        and fingerprints when `with_vectors`."""
        await self.ensure_indexes(flt)
        request = ScrollRequest(
            offset=offset,
            limit=limit,
            filter=to_edge(flt) if flt is not None else None,
            with_payload=PayloadSelector.Include(payload_keys(with_vectors)),
            with_vector=with_vectors,
        )
        records, next_offset = await self.run(EdgeShard.scroll, request)
        points = [self._stored_point(record, with_vectors) for record in records]
        return points, None if next_offset is None else str(next_offset)

    async def filtered_points(
        self, flt: Filter, offset: str | None, limit: int
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of the points passing `flt`, without vectors; `offset` is a shard point id."""
        await self.ensure_indexes(flt)
        request = ScrollRequest(
            offset=offset,
            limit=limit,
            filter=to_edge(flt),
            with_payload=PayloadSelector.Include(payload_keys(False)),
            with_vector=False,
        )
        records, next_offset = await self.run(EdgeShard.scroll, request)
        points = [self._stored_point(record, False) for record in records]
        return points, None if next_offset is None else str(next_offset)

    async def update_metadata(self, point_id: str, metadata: dict[str, Any]) -> StoredPoint | None:
        """Replace one point's metadata: read it whole and upsert it again under the write
        lock (vectors, fingerprint and score unchanged; the journal sees a plain upsert)."""
        async with self.write_lock:
            records = await self.run(EdgeShard.retrieve, [point_uuid(point_id)], True, True)
            if not records:
                return None
            record = records[0]
            body = dict(record.payload)
            body[METADATA_KEY] = dict(metadata)
            vectors = record.vector if isinstance(record.vector, dict) else {"": record.vector}
            await self.apply(Upsert((StoredPointData(str(record.id), vectors, body),)))
            self.upserts_since_build += 1
        return stored_point(body, None)

    async def get(self, ids: Sequence[str], with_vectors: bool) -> list[StoredPoint]:
        """The points among `ids` that exist, in the order asked (with_vectors: with their
        vectors and fingerprints)."""
        if not ids:
            return []
        keys = PayloadSelector.Include(payload_keys(with_vectors))
        records = await self.run(EdgeShard.retrieve, [point_uuid(i) for i in ids], keys, with_vectors)
        by_id = {record.payload[ID_KEY]: record for record in records}
        return [self._stored_point(by_id[i], with_vectors) for i in ids if i in by_id]

    @staticmethod
    def _stored_point(record: Any, with_vectors: bool) -> StoredPoint:
        vectors = None
        if with_vectors:
            raw = record.vector
            # Named vectors come back as a dict; a first-slice collection's unnamed one as a list.
            raw = raw if isinstance(raw, dict) else {"": raw}
            vectors = {name: np.asarray(v, dtype=np.float32) for name, v in raw.items()}
        return stored_point(record.payload, vectors)

    async def count(self, flt: Filter | None = None) -> int:
        """Exact number of points (passing `flt`)."""
        if flt is None:
            return await self.run(EdgeShard.count, CountRequest(exact=True))
        await self.ensure_indexes(flt)
        return await self.run(EdgeShard.count, CountRequest(exact=True, filter=to_edge(flt)))

    async def unindexed_count(self) -> int:
        """Points outside HNSW segments: what a query still has to scan exactly."""
        return (await self.build_need())[0]

    async def build_need(self) -> tuple[int, int, int]:
        """(points outside HNSW segments, dead copies of replaced or deleted points kept since
        the last build, points): what an index build would index and what it would free.

        Asked after every write, so the engine's info is read in this thread (run_here): it
        takes ~1 us (counters of the segments)."""
        info = await self.run_here(EdgeShard.info)
        if self.points_at_build is None:  # the first look since the collection opened: count from here
            self.points_at_build, self.upserts_since_build = info.points_count, 0
        dead = self.upserts_since_build - (info.points_count - self.points_at_build)
        return max(info.points_count - info.indexed_vectors_count, 0), max(dead, 0), info.points_count

    def build_started(self, points: int) -> None:
        """An index build copied the shard holding `points` points (writes from now on are
        journaled into the copy, and count towards the next build)."""
        self.upserts_since_build, self.points_at_build = 0, points

    async def info(self) -> CollectionInfo:
        """Describe the collection."""
        count = await self.count()
        shard_info = await self.run(EdgeShard.info)
        return CollectionInfo(
            name=self.name,
            model_set=self.model_set,
            count=count,
            created_at=self.created_at,
            # Replaced points stay counted in their old indexed segment until the next build.
            indexed_count=min(shard_info.indexed_vectors_count, count),
            moderation=self.moderation,
            ocr=self.ocr,
            description=self.description,
            score_pin=self.score_pin,
        )

    async def close(self) -> None:
        """Flush and close the shard; waits for in-flight calls, fails later ones."""
        async with self.write_lock, self.access.exclusive():
            if self.closed:
                return
            self.closed = True
            await asyncio.to_thread(self.shard.flush)
            await asyncio.to_thread(self.shard.close)


async def _uncancellable(work: asyncio.Future) -> Any:
    """`work`'s result once it is done; a cancellation meanwhile is raised after it."""
    cancelled = False
    while not work.done():
        try:
            await asyncio.shield(work)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return work.result()


def written(write: Write) -> tuple[int, int]:
    """Points a write touches and roughly the bytes it adds to the WAL: 4 per float, the
    fingerprint's thumbnail (most of a point) and the JSON of the rest of the payload. The
    thumbnail is counted by its length: dumping it to JSON cost 59 us per insert, against
    3 us for this estimate (within 0.5 % of the whole JSON's length)."""
    if isinstance(write, Upsert):
        return len(write.points), sum(_point_bytes(p) for p in write.points)
    if isinstance(write, Delete):
        return len(write.uuids), 0
    return 0, 0


def _point_bytes(point: StoredPointData) -> int:
    fingerprint = point.payload.get(FINGERPRINT_KEY) or {}
    rest = {k: v for k, v in point.payload.items() if k != FINGERPRINT_KEY}
    thumbnail = fingerprint.get("thumb", "") if isinstance(fingerprint, dict) else ""
    return 4 * sum(len(v) for v in point.vectors.values()) + len(thumbnail) + 256 + len(json.dumps(rest, default=str))

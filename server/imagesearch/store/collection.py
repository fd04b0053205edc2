"""One open embedded collection: its live shard, the locks around it and the write journal.

Concurrency (measured with qdrant-edge-py 0.9.0): query(), count() and flush() hold the GIL
for their whole run, update() for roughly half of it, and concurrent calls from several
threads on one shard are safe. Shard calls go through asyncio.to_thread all the same: it
costs ~0.1 ms, keeps the event loop free whenever the binding does release the GIL, and
keeps slow calls (load, flush, close) off the loop thread.

Two locks per collection:
- `write_lock` serialises writes, so the journal order is the order they were applied, and
  lets an index build freeze writes while it copies or swaps the shard;
- `access` (readers-writer) is held shared by every shard call and exclusively while the
  shard object is replaced or closed, so no call ever runs on a closed shard.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

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
    PointToStore,
    ScoredHit,
    StoredPoint,
)
from imagesearch.store.edge_filter import to_edge
from imagesearch.ocr.grams import line_grams
from imagesearch.ocr.lines import OcrLine
from imagesearch.store.filters import (
    FINGERPRINT_FIELD,
    METADATA_FIELD,
    NSFW_FIELD,
    OCR_FIELD,
    OCR_GRAMS_FIELD,
    Filter,
    wanted_indexes,
)
from imagesearch.store.journal import CreateFieldIndex, Delete, StoredPointData, Upsert, Write
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.rwlock import RWLock
from imagesearch.store.shard_config import IndexSettings

# Caller ids are free-form strings; Qdrant wants integers or UUIDs. uuid5 under a fixed
# namespace maps each string to the same UUID forever, so no id table is needed.
ID_NAMESPACE = uuid.UUID("5b0e1f3c-7f0a-4c52-9a43-6f2d8e0c7a11")
MAX_ID_LENGTH = 256
MAX_SEARCH_LIMIT = 1000
# The payload is {ID_KEY: caller id, METADATA_KEY: caller metadata, FINGERPRINT_KEY:
# duplicate-detection data}: caller keys live one level down and can never collide with ours.
ID_KEY = "id"
METADATA_KEY = METADATA_FIELD
FINGERPRINT_KEY = FINGERPRINT_FIELD
NSFW_KEY = NSFW_FIELD  # the image's NSFW score, a float
# OCR: the lines (a list of OcrLine payloads) and their n-grams (keyword list, see ocr/grams.py).
OCR_KEY = OCR_FIELD
OCR_GRAMS_KEY = OCR_GRAMS_FIELD
# Exact duplicates are looked up by this payload path (keyword index, created on first use).
SHA256_PATH = f"{FINGERPRINT_KEY}.sha256"


def payload(point: PointToStore) -> dict[str, Any]:
    """The payload a point is stored with."""
    body: dict[str, Any] = {ID_KEY: point.id, METADATA_KEY: dict(point.metadata)}
    if point.fingerprint:
        body[FINGERPRINT_KEY] = dict(point.fingerprint)
    if point.nsfw_score is not None:
        body[NSFW_KEY] = float(point.nsfw_score)
    if point.ocr_lines is not None:
        body[OCR_KEY] = [line.to_payload() for line in point.ocr_lines]
        grams = line_grams(point.ocr_lines)
        if grams:
            body[OCR_GRAMS_KEY] = grams
    return body


def ocr_lines(stored: dict[str, Any]) -> tuple[OcrLine, ...] | None:
    """The OCR lines of a stored payload; None when the point has no OCR record."""
    raw = stored.get(OCR_KEY)
    return None if raw is None else tuple(OcrLine.from_payload(line) for line in raw)


def scored_hit(stored: dict[str, Any], score: float, with_fingerprint: bool) -> ScoredHit:
    """A search result from a stored payload and the engine's cosine score."""
    return ScoredHit(
        id=stored[ID_KEY],
        score=clamp_score(score),
        metadata=stored.get(METADATA_KEY, {}),
        fingerprint=stored.get(FINGERPRINT_KEY, {}) if with_fingerprint else None,
        nsfw_score=stored.get(NSFW_KEY),
        ocr_lines=ocr_lines(stored),
    )


def stored_point(stored: dict[str, Any], vectors: dict[str, np.ndarray] | None) -> StoredPoint:
    """A point read back: its payload, and its vectors and fingerprint when they were read."""
    return StoredPoint(
        id=stored[ID_KEY],
        metadata=stored.get(METADATA_KEY, {}),
        vectors=vectors,
        fingerprint=stored.get(FINGERPRINT_KEY, {}) if vectors is not None else None,
        ocr_lines=ocr_lines(stored),
    )


def payload_keys(with_fingerprint: bool) -> list[str]:
    """The payload keys a read returns: fingerprints (kilobytes each) only when asked."""
    base = [ID_KEY, METADATA_KEY, NSFW_KEY, OCR_KEY]
    return [*base, FINGERPRINT_KEY] if with_fingerprint else base


def point_uuid(point_id: str) -> str:
    """The shard id of a caller id."""
    return str(uuid.uuid5(ID_NAMESPACE, point_id))


def check_point_id(point_id: str) -> None:
    """Raise ValueError unless `point_id` is a non-empty string of at most 256 characters."""
    if not isinstance(point_id, str) or not 0 < len(point_id) <= MAX_ID_LENGTH:
        raise ValueError(f"point id must be a string of 1-{MAX_ID_LENGTH} characters")


def check_vector(vector: np.ndarray, dimension: int) -> list[float]:
    """The vector as a list of floats, or ValueError if its shape is not (dimension,)."""
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (dimension,):
        raise ValueError(f"vector has shape {array.shape}, the collection wants ({dimension},)")
    if not np.all(np.isfinite(array)):
        raise ValueError("vector has non-finite values")
    return array.tolist()


def check_model_set(model_set: ModelSetRecord) -> None:
    """ValueError unless the set has at least one space, unique names, positive dimensions."""
    names = model_set.space_names
    if not names or len(set(names)) != len(names):
        raise ValueError(f"model set {model_set.name!r} needs spaces with distinct names, got {names}")
    if any(space.model.dimension <= 0 for space in model_set.spaces):
        raise ValueError("model dimension must be positive")


def check_vectors(vectors: Mapping[str, np.ndarray], model_set: ModelSetRecord) -> dict[str, list[float]]:
    """One checked vector per space of the set, or ValueError naming what is missing or extra."""
    if set(vectors) != set(model_set.space_names):
        raise ValueError(
            f"point has vectors for spaces {sorted(vectors)}, the collection has {sorted(model_set.space_names)}"
        )
    return {space.name: check_vector(vectors[space.name], space.model.dimension) for space in model_set.spaces}


def search_space(model_set: ModelSetRecord, space: str | None) -> tuple[str, int]:
    """Name and dimension of the space a search runs in (None: the first), or ValueError."""
    record = model_set.spaces[0] if space is None else model_set.space(space)
    if record is None:
        raise ValueError(f"the collection has no vector space {space!r} (it has {list(model_set.space_names)})")
    return record.name, record.model.dimension


def clamp_score(score: float) -> float:
    """Cosine similarity mapped onto the 0..1 scale the API promises."""
    return min(max(float(score), 0.0), 1.0)


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
    write_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    access: RWLock = field(default_factory=RWLock)
    # Writes applied while an index build runs on a copy; None when no build is running.
    journal: list[Write] | None = None
    closed: bool = False
    # Payload paths with an index; read from the shard on first use, then kept up to date.
    indexed_paths: set[str] | None = None

    @property
    def name(self) -> str:
        return self.paths.name

    async def run(self, method: Any, *args: Any) -> Any:
        """Call a shard method in a worker thread while holding `access` shared."""
        async with self.access.shared():
            if self.closed:
                raise CollectionNotFound(f"collection {self.name!r} does not exist")
            return await asyncio.to_thread(method, self.shard, *args)

    async def apply(self, write: Write) -> None:
        """Apply a write (caller holds write_lock) and journal it if a build is running."""
        await self.run(EdgeShard.update, write.operation())
        if self.journal is not None:
            self.journal.append(write)

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
        later condition of another type still works (the engine reads the payload).
        """
        wanted = wanted_indexes(flt)
        if not wanted or (self.indexed_paths is not None and wanted.keys() <= self.indexed_paths):
            return
        async with self.write_lock:
            if self.indexed_paths is None:
                info = await self.run(EdgeShard.info)
                self.indexed_paths = set(info.payload_schema)
            for path, kind in wanted.items():
                if path not in self.indexed_paths:
                    await self.apply(CreateFieldIndex(path, kind))
                    self.indexed_paths.add(path)

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

    async def scroll(self, offset: str | None, limit: int) -> tuple[list[StoredPoint], str | None]:
        """A page of points with vectors and fingerprints; `offset` is a shard point id."""
        request = ScrollRequest(
            offset=offset, limit=limit, with_payload=PayloadSelector.Include(payload_keys(True)), with_vector=True
        )
        records, next_offset = await self.run(EdgeShard.scroll, request)
        points = [self._stored_point(record, True) for record in records]
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

    async def count(self) -> int:
        """Exact number of points."""
        return await self.run(EdgeShard.count, CountRequest(exact=True))

    async def unindexed_count(self) -> int:
        """Points outside HNSW segments: what a query still has to scan exactly."""
        info = await self.run(EdgeShard.info)
        return max(info.points_count - info.indexed_vectors_count, 0)

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
        )

    async def close(self) -> None:
        """Flush and close the shard; waits for in-flight calls, fails later ones."""
        async with self.write_lock, self.access.exclusive():
            if self.closed:
                return
            self.closed = True
            await asyncio.to_thread(self.shard.flush)
            await asyncio.to_thread(self.shard.close)

"""VectorStore on a Qdrant server (or cluster) through qdrant-client's async gRPC client.

The collection's ModelSetRecord and creation time live in the collection's own metadata
(`metadata=` on create_collection, Qdrant >= 1.16), under one key of ours; collections
without it belong to someone else on the same server and are invisible to this store.
The server builds its HNSW index itself, in the background.

Each collection's settings (model set, moderation policy) are cached for a few seconds
(remote_cache.py: several API replicas share one Qdrant, and what each may see is stated
there), so a search or upsert is one round trip; a collection dropped behind our back
surfaces as CollectionNotFound through the server's NOT_FOUND answer.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import grpc
import numpy as np
from qdrant_client import AsyncQdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from imagesearch.store.base import (
    COLLECTION_NAME_PATTERN,
    OriginalsUnsupported,
    CollectionExists,
    CollectionInfo,
    CollectionNotFound,
    ModelSetRecord,
    ModerationPolicy,
    OcrPolicy,
    ScorePin,
    PointToStore,
    ScoredHit,
    StoredPoint,
    check_collection_name,
)
from imagesearch.store.points import (
    METADATA_KEY,
    ID_KEY,
    MAX_SEARCH_LIMIT,
    check_model_set,
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
from imagesearch.scoring.registry import pin_for_new
from imagesearch.store.filters import DEFAULT_MAX_FILTER_INDEXES, Filter, indexes_to_create, wanted_indexes
from imagesearch.store.format import REMOTE_COLLECTION_FORMAT_VERSION, FormatTooNew, collection_version
from imagesearch.store.remote_admin import RemoteAdmin
from imagesearch.store.claims import Claim, ClaimState
from imagesearch.store.remote_claims import RemoteClaims
from imagesearch.store.remote_cache import CollectionSettings, SettingsCache
from imagesearch.store.remote_filter import REMOTE_SCHEMAS, to_remote

log = logging.getLogger(__name__)

METADATA_ROOT = "imagesearch"
# Same reasoning as IndexSettings.hnsw_ef: 0.97 recall@10 at under 2 ms per query.
SEARCH_PARAMS = models.SearchParams(hnsw_ef=128)


def _vectors(raw: Any) -> dict[str, np.ndarray]:
    """A retrieved point's vectors by space; a first-slice collection's unnamed one as ""."""
    raw = raw if isinstance(raw, dict) else {"": raw}
    return {name: np.asarray(v, dtype=np.float32) for name, v in raw.items()}


def _is_not_found(error: Exception) -> bool:
    """Whether a client error says the collection is missing (gRPC, REST or local mode)."""
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code() == grpc.StatusCode.NOT_FOUND
    if isinstance(error, UnexpectedResponse):
        return error.status_code == 404
    return isinstance(error, ValueError) and "not found" in str(error)


@dataclass(frozen=True)
class ClusterLayout:
    """How Qdrant lays out collections created from now on; 0 leaves it to the server."""

    shard_number: int = 0
    replication_factor: int = 0


class RemoteQdrantStore(RemoteAdmin):
    """Qdrant over gRPC. Pass `client` to use an already-built AsyncQdrantClient instead.

    `cache_ttl_s`: how long a collection's settings read from Qdrant are trusted (0: read
    them for every call); `clock` is the cache's time source (tests pass their own).
    """

    def __init__(
        self,
        url: str | None,
        api_key: str | None = None,
        *,
        client: AsyncQdrantClient | None = None,
        layout: ClusterLayout = ClusterLayout(),
        cache_ttl_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        max_filter_indexes: int = DEFAULT_MAX_FILTER_INDEXES,
    ) -> None:
        if client is None:
            if not url:
                raise ValueError("a Qdrant URL or a client is required")
            # check_compatibility would call the REST port, which gRPC-only setups don't expose.
            client = AsyncQdrantClient(url=url, api_key=api_key, prefer_grpc=True, check_compatibility=False)
        self._client = client
        self._layout = layout
        self._settings = SettingsCache(cache_ttl_s, clock)
        self._claims = RemoteClaims(client, layout.replication_factor)
        # Payload paths known to be indexed, per collection (filled on first filtered search).
        self._indexed: dict[str, set[str]] = {}
        # Caller keys a collection filters on without an index (past max_filter_indexes).
        self._max_filter_indexes = max_filter_indexes
        self._unindexed: dict[str, set[str]] = {}

    @contextmanager
    def _translated(self, name: str) -> Iterator[None]:
        """Turn the client's "no such collection" errors into CollectionNotFound."""
        try:
            yield
        except CollectionNotFound:
            raise
        except Exception as error:
            if _is_not_found(error):
                self._settings.drop(name)
                self._indexed.pop(name, None)
                self._unindexed.pop(name, None)
                raise CollectionNotFound(name) from error
            raise

    async def create_collection(
        self,
        name: str,
        model_set: ModelSetRecord,
        moderation: ModerationPolicy = ModerationPolicy(),
        description: str = "",
        keep_originals: bool = False,
        ocr: OcrPolicy = OcrPolicy(),
        score_pin: ScorePin | None = None,
    ) -> CollectionInfo:
        """Create an empty collection, one named vector per space, with its moderation
        policy; CollectionExists if the name is taken. keep_originals is embedded-only
        (originals live beside the shard): ValueError here."""
        if keep_originals:
            raise OriginalsUnsupported(
                "keep_originals needs the embedded store: a remote Qdrant keeps no image bytes; create the "
                "collection without it"
            )
        check_collection_name(name)
        check_model_set(model_set)
        if await self._client.collection_exists(name):
            raise CollectionExists(name)
        score_pin = pin_for_new(model_set.name) if score_pin is None else score_pin
        settings = CollectionSettings.new(model_set, moderation, description, ocr, score_pin)
        await self._client.create_collection(
            collection_name=name,
            vectors_config={
                space.name: models.VectorParams(size=space.model.dimension, distance=models.Distance.COSINE)
                for space in model_set.spaces
            },
            shard_number=self._layout.shard_number or None,
            replication_factor=self._layout.replication_factor or None,
            metadata={METADATA_ROOT: settings.to_metadata()},
        )
        return await self.get_collection(name)

    async def _record(self, name: str) -> tuple[CollectionSettings, Any]:
        """The collection's settings, read now (and cached), and its Qdrant info; NotFound if not ours."""
        check_collection_name(name)
        with self._translated(name):
            info = await self._client.get_collection(name)
        ours = (info.config.metadata or {}).get(METADATA_ROOT)
        if not ours:
            raise CollectionNotFound(name)
        if collection_version(ours) > REMOTE_COLLECTION_FORMAT_VERSION:
            raise FormatTooNew(f"collection {name!r}", collection_version(ours), REMOTE_COLLECTION_FORMAT_VERSION)
        return self._settings.put(name, CollectionSettings.from_metadata(ours)), info

    async def _cached(self, name: str) -> CollectionSettings:
        """The collection's settings, from the cache while fresh."""
        check_collection_name(name)
        return self._settings.get(name) or (await self._record(name))[0]

    async def get_collection(self, name: str) -> CollectionInfo:
        """Describe a collection; CollectionNotFound if missing."""
        settings, info = await self._record(name)
        with self._translated(name):
            count = (await self._client.count(collection_name=name, exact=True)).count
        return CollectionInfo(
            name=name,
            model_set=settings.model_set,
            count=count,
            created_at=settings.created_at,
            indexed_count=min(info.indexed_vectors_count or 0, count),
            moderation=settings.moderation,
            description=settings.description,
            ocr=settings.ocr,
            score_pin=settings.score_pin,
        )

    async def list_collections(self) -> list[CollectionInfo]:
        """All collections of this store, sorted by name."""
        response = await self._client.get_collections()
        infos = []
        for name in sorted(c.name for c in response.collections):
            if not COLLECTION_NAME_PATTERN.fullmatch(name):
                continue  # not a name of ours (e.g. remote_claims.CLAIMS_COLLECTION)
            try:
                infos.append(await self.get_collection(name))
            except (CollectionNotFound, ValueError):
                continue  # another application's collection, or deleted meanwhile
        return infos

    async def delete_collection(self, name: str) -> None:
        """Drop a collection and its data; CollectionNotFound if missing."""
        await self._record(name)
        self._settings.drop(name)
        self._indexed.pop(name, None)
        self._unindexed.pop(name, None)
        await self._client.delete_collection(name)
        try:
            await self._claims.forget(name)
        except Exception:  # the collection is gone; leftover claims expire on their own
            log.warning("could not drop the duplicate-check claims of deleted collection %s", name, exc_info=True)

    async def model_set(self, name: str) -> ModelSetRecord:
        """The collection's model set (cached for cache_ttl_s)."""
        return (await self._cached(name)).model_set

    async def moderation(self, name: str) -> ModerationPolicy:
        """The collection's moderation policy (cached for cache_ttl_s)."""
        return (await self._cached(name)).moderation

    async def ocr_policy(self, name: str) -> OcrPolicy:
        """The collection's OCR policy (cached for cache_ttl_s)."""
        return (await self._cached(name)).ocr

    async def score_pin(self, name: str) -> ScorePin:
        """The calibration version the collection was created under (cached for cache_ttl_s)."""
        return (await self._cached(name)).score_pin

    async def upsert(self, name: str, points: Sequence[PointToStore]) -> None:
        """Insert or replace points; returns once the server has applied them (wait=True)."""
        if not points:
            return
        model_set = await self.model_set(name)
        structs = []
        for point in points:
            check_point_id(point.id)
            structs.append(
                models.PointStruct(
                    id=point_uuid(point.id),
                    vector=check_vectors(point.vectors, model_set),
                    payload=payload(point),
                )
            )
        with self._translated(name):
            await self._client.upsert(collection_name=name, points=structs, wait=True)

    async def _ensure_indexes(self, name: str, flt: Filter | None) -> None:
        """Create the payload indexes `flt` wants that the collection lacks, up to
        max_filter_indexes on caller keys (filters.indexes_to_create)."""
        wanted = wanted_indexes(flt)
        known = self._indexed.get(name)
        unindexed = self._unindexed.setdefault(name, set())
        if not wanted or (known is not None and wanted.keys() <= known | unindexed):
            return
        with self._translated(name):
            if known is None:
                info = await self._client.get_collection(name)
                known = self._indexed[name] = set(info.payload_schema or {})
            create, skipped = indexes_to_create(wanted, known, self._max_filter_indexes)
            for path, kind in create.items():
                await self._client.create_payload_index(
                    collection_name=name, field_name=path, field_schema=REMOTE_SCHEMAS[kind], wait=True
                )
                known.add(path)
            if skipped - unindexed:
                log.warning(
                    "collection %s has %d filter indexes (setting max_filter_indexes); filtering on %s unindexed",
                    name, self._max_filter_indexes, ", ".join(sorted(skipped - unindexed)),
                )
                unindexed |= skipped

    async def search(
        self,
        name: str,
        vector: np.ndarray,
        limit: int,
        min_score: float = 0.0,
        space: str | None = None,
        flt: Filter | None = None,
        with_fingerprint: bool = False,
    ) -> list[ScoredHit]:
        """The `limit` (1-1000) nearest points in `space` (default: the first) with
        score >= min_score passing `flt`, best first."""
        if not 0 < limit <= MAX_SEARCH_LIMIT:
            raise ValueError(f"limit must be 1-{MAX_SEARCH_LIMIT}")
        using, dimension = search_space(await self.model_set(name), space)
        await self._ensure_indexes(name, flt)
        with self._translated(name):
            response = await self._client.query_points(
                collection_name=name,
                query_filter=to_remote(flt) if flt is not None else None,
                query=check_vector(vector, dimension),
                using=using,
                limit=limit,
                with_payload=payload_keys(with_fingerprint),
                score_threshold=min_score if min_score > 0 else None,
                search_params=SEARCH_PARAMS,
            )
        return [scored_hit(hit.payload, hit.score, with_fingerprint) for hit in response.points]

    async def scroll(
        self, name: str, offset: str | None, limit: int, flt: Filter | None = None, with_vectors: bool = True
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of points passing `flt`; `offset` is a Qdrant point id."""
        await self.model_set(name)
        await self._ensure_indexes(name, flt)
        with self._translated(name):
            records, next_offset = await self._client.scroll(
                collection_name=name,
                offset=offset,
                limit=limit,
                scroll_filter=to_remote(flt) if flt is not None else None,
                with_payload=payload_keys(with_vectors),
                with_vectors=with_vectors,
            )
        points = [self._stored_point(record, with_vectors) for record in records]
        return points, None if next_offset is None else str(next_offset)

    async def filtered_points(
        self, name: str, flt: Filter, offset: str | None, limit: int
    ) -> tuple[list[StoredPoint], str | None]:
        """A page of the points passing `flt`, without vectors; `offset` is a Qdrant point id."""
        await self.model_set(name)
        await self._ensure_indexes(name, flt)
        with self._translated(name):
            records, next_offset = await self._client.scroll(
                collection_name=name,
                scroll_filter=to_remote(flt),
                offset=offset,
                limit=limit,
                with_payload=payload_keys(False),
                with_vectors=False,
            )
        points = [self._stored_point(record, False) for record in records]
        return points, None if next_offset is None else str(next_offset)
    async def update_metadata(self, name: str, point_id: str, metadata: dict[str, Any]) -> StoredPoint | None:
        """Replace a point's metadata with Qdrant's set_payload (the other keys stay)."""
        await self.model_set(name)
        uuid_ = point_uuid(point_id)
        with self._translated(name):
            if not await self._client.retrieve(collection_name=name, ids=[uuid_], with_payload=False):
                return None
            await self._client.set_payload(
                collection_name=name, payload={METADATA_KEY: dict(metadata)}, points=[uuid_], wait=True
            )
        found = await self.get(name, [point_id])
        return found[0] if found else None

    async def update_collection(
        self, name: str, description: str | None = None, moderation: ModerationPolicy | None = None
    ) -> CollectionInfo:
        """Change the description and/or moderation policy: the next version of the
        collection's settings, in its Qdrant metadata (other replicas see it within the TTL)."""
        settings, _ = await self._record(name)
        changed = settings.updated(moderation, description)
        with self._translated(name):
            await self._client.update_collection(collection_name=name, metadata={METADATA_ROOT: changed.to_metadata()})
        self._settings.drop(name)
        return await self.get_collection(name)

    @staticmethod
    def _stored_point(record: Any, with_vectors: bool) -> StoredPoint:
        return stored_point(record.payload, _vectors(record.vector) if with_vectors else None)

    async def get(self, name: str, ids: Sequence[str], with_vectors: bool = False) -> list[StoredPoint]:
        """The points among `ids` that exist, in the order asked."""
        await self.model_set(name)
        if not ids:
            return []
        with self._translated(name):
            records = await self._client.retrieve(
                collection_name=name,
                ids=[point_uuid(i) for i in ids],
                with_payload=payload_keys(with_vectors),
                with_vectors=with_vectors,
            )
        by_id = {record.payload[ID_KEY]: record for record in records}
        return [self._stored_point(by_id[i], with_vectors) for i in ids if i in by_id]

    async def delete(self, name: str, ids: Sequence[str]) -> int:
        """Delete points by id; returns how many existed (racy against concurrent writers)."""
        await self.model_set(name)
        uuids = list(dict.fromkeys(point_uuid(i) for i in ids))
        if not uuids:
            return 0
        with self._translated(name):
            existing = await self._client.retrieve(collection_name=name, ids=uuids, with_payload=False)
            if existing:
                await self._client.delete(
                    collection_name=name,
                    points_selector=models.PointIdsList(points=[record.id for record in existing]),
                    wait=True,
                )
        return len(existing)

    async def count(self, name: str, flt: Filter | None = None) -> int:
        """Number of points in the collection (passing `flt`)."""
        await self.model_set(name)
        await self._ensure_indexes(name, flt)
        with self._translated(name):
            query_filter = to_remote(flt) if flt is not None else None
            return (await self._client.count(collection_name=name, count_filter=query_filter, exact=True)).count

    # Duplicate-check claims (claims.py), in Qdrant: remote_claims.py.

    async def put_claim(self, name: str, claim: Claim) -> None:
        await self._claims.put(name, claim)

    async def claims(self, name: str) -> list[Claim]:
        return await self._claims.read(name)

    async def transition_claim(self, name: str, claim: Claim, expected: ClaimState | None) -> Claim | None:
        return await self._claims.transition(name, claim, expected)

    async def drop_claim(self, name: str, claim_id: str) -> None:
        await self._claims.drop(name, claim_id)

    async def close(self) -> None:
        """Close the client's connections."""
        await self._client.close()

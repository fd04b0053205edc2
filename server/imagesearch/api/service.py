"""The ImageSearch RPC handlers: validate, encode through Triton, read or write the store.

Every collection belongs to a model set (models/model_sets.py). Inserts and searches go
through the encoders of the collection's own set, and only when this server serves that
set at the version the collection was built with; anything else is FAILED_PRECONDITION.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import AsyncIterator, Mapping

import grpc

from imagesearch.api import convert, filters, validation
from imagesearch.api.errors import ApiError, as_api_error, status_name, stream_errors, unary_errors
from imagesearch.api.feedback import search_with_feedback
from imagesearch.dedup.detector import Duplicate, DuplicateDetector
from imagesearch.dedup.fingerprint import Fingerprint, fingerprint
from imagesearch.fetch.fetcher import UrlFetcher
from imagesearch.inference.model_sets import ServedModelSet
from imagesearch.inference.nsfw import NSFW_LABEL_THRESHOLD, NsfwScorer
from imagesearch.models.model_sets import MODEL_SETS
from imagesearch.store import filters as store_filters
from imagesearch.store.base import ModelSetRecord, PointToStore, ScoredHit, VectorStore
from imagesearch.v1 import imagesearch_pb2 as pb
from imagesearch.v1 import imagesearch_pb2_grpc as pb_grpc


@dataclass(frozen=True)
class ServiceLimits:
    """The settings the handlers enforce."""

    max_image_pixels: int
    insert_concurrency: int


class ImageSearchService(pb_grpc.ImageSearchServicer):
    """Implements imagesearch.v1.ImageSearch over the served model sets and a vector store."""

    def __init__(
        self,
        store: VectorStore,
        model_sets: Mapping[str, ServedModelSet],
        default_model_set: str,
        limits: ServiceLimits,
        fetcher: UrlFetcher,
        nsfw: NsfwScorer,
    ) -> None:
        self._store = store
        self._model_sets = dict(model_sets)
        self._default_model_set = default_model_set
        self._limits = limits
        self._fetcher = fetcher
        self._nsfw = nsfw
        self._duplicates = DuplicateDetector(store)
        # Per collection: the duplicate check and the write of a checked insert happen under
        # this lock, so two copies inserted at once (one stream, or two clients) cannot both
        # pass the check. One server process only; replicas sharing a Qdrant do not share it.
        self._checked_inserts: dict[str, asyncio.Lock] = {}

    # -- collections -------------------------------------------------------------------

    @unary_errors
    async def CreateCollection(self, request: pb.CreateCollectionRequest, context) -> pb.Collection:
        name = validation.collection_name(request.name, "name")
        set_name = validation.model_set_name(request.model_set or self._default_model_set, MODEL_SETS)
        moderation = validation.moderation(request)
        served = self._model_sets.get(set_name)
        if served is None:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"this server does not serve model set {set_name!r} (it serves "
                f"{', '.join(sorted(self._model_sets))}): run `{MODEL_SETS[set_name].setup_hint}` "
                "and restart the server",
            )
        return convert.collection(await self._store.create_collection(name, served.record, moderation))

    @unary_errors
    async def GetCollection(self, request: pb.GetCollectionRequest, context) -> pb.Collection:
        name = validation.collection_name(request.name, "name")
        return convert.collection(await self._store.get_collection(name))

    @unary_errors
    async def ListCollections(self, request: pb.ListCollectionsRequest, context) -> pb.ListCollectionsResponse:
        infos = await self._store.list_collections()
        return pb.ListCollectionsResponse(collections=[convert.collection(i) for i in infos])

    @unary_errors
    async def DeleteCollection(self, request: pb.DeleteCollectionRequest, context) -> pb.DeleteCollectionResponse:
        name = validation.collection_name(request.name, "name")
        await self._store.delete_collection(name)
        self._checked_inserts.pop(name, None)
        return pb.DeleteCollectionResponse()

    # -- ingest ------------------------------------------------------------------------

    @unary_errors
    async def Insert(self, request: pb.InsertRequest, context) -> pb.InsertResult:
        result = await self._insert_item(0, request)
        if result.HasField("error"):
            raise ApiError(grpc.StatusCode[result.error.code], result.error.message)
        return result

    async def InsertStream(
        self, request_iterator: AsyncIterator[pb.InsertRequest], context
    ) -> AsyncIterator[pb.InsertResult]:
        # Several items are encoded at once so Triton's dynamic batcher can group them;
        # results go back as each finishes, tagged with the request's index.
        results: asyncio.Queue[pb.InsertResult | None] = asyncio.Queue()
        slots = asyncio.Semaphore(self._limits.insert_concurrency)

        async def run_item(index: int, request: pb.InsertRequest) -> None:
            try:
                results.put_nowait(await self._insert_item(index, request))
            finally:
                slots.release()

        async def feed() -> None:
            try:
                async with asyncio.TaskGroup() as items:
                    index = 0
                    async for request in request_iterator:
                        await slots.acquire()
                        items.create_task(run_item(index, request))
                        index += 1
            finally:
                results.put_nowait(None)

        feeder = asyncio.create_task(feed())
        try:
            while (result := await results.get()) is not None:
                yield result
            await feeder
        finally:
            feeder.cancel()

    async def _insert_item(self, index: int, request: pb.InsertRequest) -> pb.InsertResult:
        """Stores one item; every failure becomes the result's error, never an exception."""
        try:
            item_id = validation.item_id(request.id, allow_empty=True)
        except ApiError as exc:
            return pb.InsertResult(index=index, error=pb.ItemError(code=status_name(exc.code), message=exc.message))
        try:
            name = validation.collection_name(request.collection)
            metadata = validation.metadata(request.metadata)
            if request.image and request.image_url:
                raise validation.invalid("image_url", "set image or image_url, not both")
            policy = validation.duplicate_policy(request.duplicate_policy)
            served = await self._served_set_of(name)
            moderation = await self._store.moderation(name)
            image = await self._image(request.image, request.image_url)
            # Embeddings and NSFW score (Triton models) and the fingerprint (a worker
            # thread) are independent: all three run at once.
            vectors, nsfw_score, fp = await asyncio.gather(
                served.embed_image(image),
                self._nsfw.score(image) if moderation.scoring else _no_score(),
                asyncio.to_thread(fingerprint, image),
            )
            if moderation.max_score is not None and nsfw_score > moderation.max_score:
                raise ApiError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"the image's NSFW score is {nsfw_score:.3f}; collection {name!r} refuses images scoring above "
                    f"{moderation.max_score:g} (its max_nsfw_score, set at creation)",
                )
            point = PointToStore(
                id=item_id, vectors=vectors, metadata=metadata, fingerprint=fp.to_payload(), nsfw_score=nsfw_score
            )
            duplicate = await self._store_unless_duplicate(name, point, fp, served.spec.image_query_space, policy)
            if duplicate is not None and policy == pb.DUPLICATE_POLICY_SKIP:
                return pb.InsertResult(
                    index=index, id=duplicate.id, duplicate_of=_duplicate_info(duplicate), skipped=True,
                    nsfw_score=nsfw_score,
                )
        except Exception as exc:  # noqa: BLE001 - reported per item
            error = as_api_error(exc)
            return pb.InsertResult(
                index=index, id=request.id, error=pb.ItemError(code=status_name(error.code), message=error.message)
            )
        return pb.InsertResult(
            index=index,
            id=item_id,
            duplicate_of=_duplicate_info(duplicate) if duplicate is not None else None,
            nsfw_score=nsfw_score,
        )

    async def _store_unless_duplicate(
        self, name: str, point: PointToStore, fp: Fingerprint, space: str, policy: int
    ) -> Duplicate | None:
        """Store `point` as `policy` says; returns the stored item it duplicates, if any.

        SKIP stores nothing when there is one, REJECT raises ALREADY_EXISTS, ALLOW stores
        anyway and IGNORE stores without looking.
        """
        if policy == pb.DUPLICATE_POLICY_IGNORE:
            await self._store.upsert(name, [point])
            return None
        async with self._checked_inserts.setdefault(name, asyncio.Lock()):
            duplicate = await self._duplicates.find(name, point.vectors[space], fp, exclude_id=point.id, space=space)
            if duplicate is not None and policy == pb.DUPLICATE_POLICY_REJECT:
                raise ApiError(grpc.StatusCode.ALREADY_EXISTS, _duplicate_message(name, duplicate))
            if duplicate is None or policy != pb.DUPLICATE_POLICY_SKIP:
                await self._store.upsert(name, [point])
            return duplicate

    # -- search ------------------------------------------------------------------------

    @stream_errors
    async def Search(self, request: pb.SearchRequest, context) -> AsyncIterator[pb.SearchHit]:
        name = validation.collection_name(request.collection)
        limit, threshold = validation.top_k(request), validation.min_score(request)
        flt = await self._request_filter(name, request)
        query = request.WhichOneof("query")
        if query is None:
            raise validation.invalid("image", "the request carries no query: set image, image_url or text")
        if query == "text":
            hits = await self._text_hits(name, request, limit, threshold, flt)
        else:
            hits = await self._image_hits(name, request, limit, threshold, flt)
        for rank, hit in enumerate(hits, start=1):
            yield convert.search_hit(hit, rank)

    async def _image_hits(
        self, name: str, request: pb.SearchRequest, limit: int, threshold: float, flt: store_filters.Filter | None
    ) -> list[ScoredHit]:
        """An image query (bytes or URL), in the collection's image-similarity space."""
        served = await self._served_set_of(name, request.model_set)
        image = await self._image(request.image, request.image_url)
        space = served.spec.image_query_space
        vector = await served.embed_image_for(image, space)
        return await self._store.search(name, vector, limit, threshold, space, flt=flt)

    async def _text_hits(
        self, name: str, request: pb.SearchRequest, limit: int, threshold: float, flt: store_filters.Filter | None
    ) -> list[ScoredHit]:
        """A text query, in the collection's text-image space."""
        text = validation.query_text(request.text)
        served = await self._served_set_of(name, request.model_set)
        space = served.spec.text_query_space
        if space is None:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"collection {name!r} uses model set {served.spec.name!r}, which has no text-image "
                "space: create a collection with a text-capable model set and re-insert the images",
            )
        vector = await served.embed_text(text, space)
        if space == served.spec.image_query_space:
            return await self._store.search(name, vector, limit, threshold, space, flt=flt)
        # A separate text space is coarse (offline set): re-rank through the image space.
        return await search_with_feedback(
            self._store, name, vector, space, served.spec.image_query_space, limit, threshold, flt=flt
        )

    @stream_errors
    async def SearchById(self, request: pb.SearchByIdRequest, context) -> AsyncIterator[pb.SearchHit]:
        name = validation.collection_name(request.collection)
        item_id = validation.item_id(request.id)
        limit, threshold = validation.top_k(request), validation.min_score(request)
        flt = await self._request_filter(name, request)
        space = (await self._served_set_of(name)).spec.image_query_space
        found = await self._store.get(name, [item_id], with_vectors=True)
        if not found or not found[0].vectors or space not in found[0].vectors:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"no item with id {item_id!r} in collection {name!r}")
        # One extra hit covers the query item itself, which is dropped unless asked for.
        hits = await self._store.search(name, found[0].vectors[space], limit + 1, threshold, space, flt=flt)
        if not request.include_self:
            hits = [h for h in hits if h.id != item_id]
        for rank, hit in enumerate(hits[:limit], start=1):
            yield convert.search_hit(hit, rank)

    @stream_errors
    async def FindDuplicates(self, request: pb.FindDuplicatesRequest, context) -> AsyncIterator[pb.DuplicateGroup]:
        name = validation.collection_name(request.collection)
        threshold = validation.unit_interval(request, "threshold") if request.HasField("threshold") else None
        space = (await self._served_set_of(name)).spec.image_query_space
        for group in await self._duplicates.groups(name, threshold, space):
            yield pb.DuplicateGroup(
                ids=group.ids, pairs=[pb.DuplicatePair(a=p.a, b=p.b, score=p.score) for p in group.pairs]
            )

    @unary_errors
    async def Moderate(self, request: pb.ModerateRequest, context) -> pb.ModerateResponse:
        if request.WhichOneof("image") is None:
            raise validation.invalid("image_bytes", "the request carries no image: set image_bytes or image_url")
        if request.image_url:
            image = validation.image_bytes(
                await self._fetcher.fetch(request.image_url), self._limits.max_image_pixels, "image_url"
            )
        else:
            image = validation.image_bytes(request.image_bytes, self._limits.max_image_pixels, "image_bytes")
        score = await self._nsfw.score(image)
        return pb.ModerateResponse(nsfw_score=score, nsfw=score >= NSFW_LABEL_THRESHOLD, threshold=NSFW_LABEL_THRESHOLD)

    # -- items -------------------------------------------------------------------------

    @unary_errors
    async def Get(self, request: pb.GetRequest, context) -> pb.GetResponse:
        name = validation.collection_name(request.collection)
        ids = validation.item_ids(request.ids)
        found = await self._store.get(name, ids)
        present = {p.id for p in found}
        return pb.GetResponse(
            items=[pb.Item(id=p.id, metadata=convert.to_struct(p.metadata)) for p in found],
            missing_ids=[i for i in ids if i not in present],
        )

    @unary_errors
    async def Delete(self, request: pb.DeleteRequest, context) -> pb.DeleteResponse:
        name = validation.collection_name(request.collection)
        return pb.DeleteResponse(deleted=await self._store.delete(name, validation.item_ids(request.ids)))

    @unary_errors
    async def Count(self, request: pb.CountRequest, context) -> pb.CountResponse:
        return pb.CountResponse(count=await self._store.count(validation.collection_name(request.collection)))

    async def _image(self, data: bytes, url: str) -> bytes:
        """The request's image: its bytes, or the download of its image_url, header-checked."""
        if url:
            return validation.image_bytes(await self._fetcher.fetch(url), self._limits.max_image_pixels, "image_url")
        return validation.image_bytes(data, self._limits.max_image_pixels)

    async def _request_filter(self, name: str, request) -> store_filters.Filter | None:
        """The search request's filter, narrowed to items scoring at most its
        max_nsfw_score (if set); FAILED_PRECONDITION where the collection keeps no scores.

        Items without a score (stored before scores were kept) do not pass a cap.
        """
        flt = filters.request_filter(request)
        if not request.HasField("max_nsfw_score"):
            return flt
        cap = store_filters.Range(store_filters.NSFW_FIELD, lte=validation.unit_interval(request, "max_nsfw_score"))
        if not (await self._store.moderation(name)).scoring:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"collection {name!r} was created with skip_nsfw_scoring, so its items have no NSFW score to "
                "cap: search without max_nsfw_score, or re-index into a collection that scores",
            )
        return store_filters.Filter(must=(cap,) if flt is None else (flt, cap))

    async def _served_set_of(self, name: str, expected_set: str = "") -> ServedModelSet:
        """The served model set that made the collection's vectors, at the same versions.

        FAILED_PRECONDITION when the caller expected another set, when this server does
        not serve the collection's set, or serves it with other models or versions.
        """
        have = await self._store.model_set(name)
        if expected_set and expected_set != have.name:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"collection {name!r} was built with model set {have.name!r}, not {expected_set!r}: search it "
                f"without model_set (or with {have.name!r}), or use a collection built with {expected_set!r}",
            )
        served = self._model_sets.get(have.name)
        if served is None:
            hint = MODEL_SETS[have.name].setup_hint if have.name in MODEL_SETS else "the matching server version"
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"collection {name!r} was built with model set {have.name!r}, which this server does not serve "
                f"(it serves {', '.join(sorted(self._model_sets))}): run `{hint}` and restart the server",
            )
        if served.record != have:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"collection {name!r} was built with {_describe(have)} but this server serves "
                f"{_describe(served.record)}: serve the collection's model versions, or create a new "
                "collection and re-insert the images",
            )
        return served


def _describe(record: ModelSetRecord) -> str:
    """A model set record for error messages, e.g. "offline (image: efficientnet v1 1280-d, ...)"."""
    spaces = ", ".join(
        f"{s.name or 'unnamed'}: {s.model.name} v{s.model.version} {s.model.dimension}-d" for s in record.spaces
    )
    return f"model set {record.name!r} ({spaces})"


def _duplicate_info(duplicate: Duplicate) -> pb.DuplicateInfo:
    return pb.DuplicateInfo(id=duplicate.id, exact=duplicate.exact, score=duplicate.score)


def _duplicate_message(collection: str, duplicate: Duplicate) -> str:
    kind = "the same bytes as" if duplicate.exact else f"a near-duplicate (score {duplicate.score:.3f}) of"
    return (
        f"the image is {kind} item {duplicate.id!r} in collection {collection!r}, and duplicate_policy is "
        "REJECT: use SKIP to get the existing id back, or ALLOW to store it anyway"
    )


async def _no_score() -> None:
    """Stands in for the NSFW model where a collection skips scoring."""
    return None

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

from imagesearch.api import convert, validation
from imagesearch.api.errors import ApiError, as_api_error, status_name, stream_errors, unary_errors
from imagesearch.api.feedback import search_with_feedback
from imagesearch.inference.model_sets import ServedModelSet
from imagesearch.models.model_sets import MODEL_SETS
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
    ) -> None:
        self._store = store
        self._model_sets = dict(model_sets)
        self._default_model_set = default_model_set
        self._limits = limits

    # -- collections -------------------------------------------------------------------

    @unary_errors
    async def CreateCollection(self, request: pb.CreateCollectionRequest, context) -> pb.Collection:
        name = validation.collection_name(request.name, "name")
        set_name = validation.model_set_name(request.model_set or self._default_model_set, MODEL_SETS)
        served = self._model_sets.get(set_name)
        if served is None:
            raise ApiError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"this server does not serve model set {set_name!r} (it serves "
                f"{', '.join(sorted(self._model_sets))}): run `{MODEL_SETS[set_name].setup_hint}` "
                "and restart the server",
            )
        return convert.collection(await self._store.create_collection(name, served.record))

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
        await self._store.delete_collection(validation.collection_name(request.name, "name"))
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
            image = validation.image_bytes(request.image, self._limits.max_image_pixels)
            served = await self._served_set_of(name)
            vectors = await served.embed_image(image)
            await self._store.upsert(name, [PointToStore(id=item_id, vectors=vectors, metadata=metadata)])
        except Exception as exc:  # noqa: BLE001 - reported per item
            error = as_api_error(exc)
            return pb.InsertResult(
                index=index, id=request.id, error=pb.ItemError(code=status_name(error.code), message=error.message)
            )
        return pb.InsertResult(index=index, id=item_id)

    # -- search ------------------------------------------------------------------------

    @stream_errors
    async def Search(self, request: pb.SearchRequest, context) -> AsyncIterator[pb.SearchHit]:
        name = validation.collection_name(request.collection)
        limit, threshold = validation.top_k(request), validation.min_score(request)
        query = request.WhichOneof("query")
        if query is None:
            raise validation.invalid("image", "the request carries no query: set image or text")
        if query == "text":
            hits = await self._text_hits(name, request, limit, threshold)
        else:
            hits = await self._image_hits(name, request, limit, threshold)
        for rank, hit in enumerate(hits, start=1):
            yield convert.search_hit(hit, rank)

    async def _image_hits(self, name: str, request: pb.SearchRequest, limit: int, threshold: float) -> list[ScoredHit]:
        """An image query, in the collection's image-similarity space."""
        image = validation.image_bytes(request.image, self._limits.max_image_pixels)
        served = await self._served_set_of(name, request.model_set)
        space = served.spec.image_query_space
        vector = await served.embed_image_for(image, space)
        return await self._store.search(name, vector, limit, threshold, space)

    async def _text_hits(self, name: str, request: pb.SearchRequest, limit: int, threshold: float) -> list[ScoredHit]:
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
            return await self._store.search(name, vector, limit, threshold, space)
        # A separate text space is coarse (offline set): re-rank through the image space.
        return await search_with_feedback(
            self._store, name, vector, space, served.spec.image_query_space, limit, threshold
        )

    @stream_errors
    async def SearchById(self, request: pb.SearchByIdRequest, context) -> AsyncIterator[pb.SearchHit]:
        name = validation.collection_name(request.collection)
        item_id = validation.item_id(request.id)
        limit, threshold = validation.top_k(request), validation.min_score(request)
        space = (await self._served_set_of(name)).spec.image_query_space
        found = await self._store.get(name, [item_id], with_vectors=True)
        if not found or not found[0].vectors or space not in found[0].vectors:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"no item with id {item_id!r} in collection {name!r}")
        # One extra hit covers the query item itself, which is dropped unless asked for.
        hits = await self._store.search(name, found[0].vectors[space], limit + 1, threshold, space)
        if not request.include_self:
            hits = [h for h in hits if h.id != item_id]
        for rank, hit in enumerate(hits[:limit], start=1):
            yield convert.search_hit(hit, rank)

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

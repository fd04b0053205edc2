"""Search handlers: SearchItems (by image, text or stored item), FindDuplicates and
ModerateImage."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import grpc
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import convert, validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import ApiError, failed_precondition, invalid, item_not_found, stream_errors, unary_errors
from imagesearch.api.feedback import search_with_feedback
from imagesearch.api.ingest import Ingestor
from imagesearch.inference.nsfw import NSFW_LABEL_THRESHOLD
from imagesearch.store import filters as store_filters
from imagesearch.store.base import ScoredHit


class SearchHandlers:
    """SearchItems, FindDuplicates, ModerateImage."""

    ctx: ServiceContext
    ingestor: Ingestor
    audits: dict[str, asyncio.Lock]

    @stream_errors
    async def SearchItems(self, request: pb.SearchItemsRequest, context) -> AsyncIterator[pb.SearchItemsResponse]:
        collection = validation.collection_of(request.parent)
        limit, threshold = validation.top_k(request), validation.min_score(request)
        flt = await self.ctx.search_filter(collection, request)
        query = request.WhichOneof("query")
        if query is None:
            raise invalid("image", "the request carries no query: set image, text or item")
        if query == "text":
            hits = await self._text_hits(collection, request, limit, threshold, flt)
        elif query == "item":
            hits = await self._item_hits(collection, request, limit, threshold, flt)
        else:
            served = await self.ctx.served_set_of(collection, request.model_set)
            image = await self.ctx.image(request.image)
            space = served.spec.image_query_space
            vector = await served.embed_image_for(image, space)
            hits = await self.ctx.store.search(collection, vector, limit, threshold, space, flt=flt)
        for rank, hit in enumerate(hits, start=1):
            yield convert.search_hit(collection, hit, rank)

    async def _text_hits(
        self, collection: str, request: pb.SearchItemsRequest, limit: int, threshold: float,
        flt: store_filters.Filter | None,
    ) -> list[ScoredHit]:
        """A text query, in the collection's text-image space."""
        text = validation.query_text(request.text)
        served = await self.ctx.served_set_of(collection, request.model_set)
        space = served.spec.text_query_space
        if space is None:
            raise failed_precondition(
                ErrorReason.TEXT_SEARCH_UNSUPPORTED,
                f"collection {collection!r} uses model set {served.spec.name!r}, which has no text-image space: "
                "create a collection with a text-capable model set and re-insert the images",
                collection=collection, model_set=served.spec.name,
            )
        vector = await served.embed_text(text, space)
        if space == served.spec.image_query_space:
            return await self.ctx.store.search(collection, vector, limit, threshold, space, flt=flt)
        # A separate text space is coarse (offline set): re-rank through the image space.
        return await search_with_feedback(
            self.ctx.store, collection, vector, space, served.spec.image_query_space, limit, threshold, flt=flt
        )

    async def _item_hits(
        self, collection: str, request: pb.SearchItemsRequest, limit: int, threshold: float,
        flt: store_filters.Filter | None,
    ) -> list[ScoredHit]:
        """"More like this": a stored item's vector is the query."""
        parsed = validation.item_of(request.item, "item")
        if parsed.collection_id != collection:
            raise invalid("item", f"item {request.item[:120]!r} is not in {request.parent!r}: search its own "
                          "collection")
        space = (await self.ctx.served_set_of(collection, request.model_set)).spec.image_query_space
        found = await self.ctx.store.get(collection, [parsed.item_id], with_vectors=True)
        if not found or not found[0].vectors or space not in found[0].vectors:
            raise item_not_found(collection, parsed.item_id)
        # One extra hit covers the query item itself, which is dropped unless asked for.
        hits = await self.ctx.store.search(collection, found[0].vectors[space], limit + 1, threshold, space, flt=flt)
        if not request.include_query_item:
            hits = [h for h in hits if h.id != parsed.item_id]
        return hits[:limit]

    @stream_errors
    async def FindDuplicates(
        self, request: pb.FindDuplicatesRequest, context
    ) -> AsyncIterator[pb.FindDuplicatesResponse]:
        collection = validation.collection_of(request.parent)
        threshold = validation.unit_interval(request, "threshold") if request.HasField("threshold") else None
        space = (await self.ctx.served_set_of(collection)).spec.image_query_space
        audit = self.audits.setdefault(collection, asyncio.Lock())
        if audit.locked():
            raise ApiError(
                grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorReason.OPERATION_ALREADY_RUNNING,
                f"a duplicate audit of collection {collection!r} is already running: wait for it to finish "
                "(one audit per collection at a time)", "parent", {"collection": collection},
            )
        async with audit:
            async for group in self.ingestor.duplicates.iter_groups(collection, threshold, space):
                yield convert.duplicate_group(collection, group)

    @unary_errors
    async def ModerateImage(self, request: pb.ModerateImageRequest, context) -> pb.ModerateImageResponse:
        image = await self.ctx.image(request.image)
        score = await self.ctx.nsfw.score(image)
        return pb.ModerateImageResponse(
            nsfw_score=score, nsfw=score >= NSFW_LABEL_THRESHOLD, threshold=NSFW_LABEL_THRESHOLD
        )

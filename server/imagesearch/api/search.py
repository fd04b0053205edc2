"""Search handlers: SearchItems (by image, text or stored item), FindDuplicates and
ModerateImage."""

from __future__ import annotations

import asyncio
from typing import AsyncIterator, Awaitable, Callable

import grpc
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import convert, validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import ApiError, failed_precondition, invalid, item_not_found, stream_errors, unary_errors
from imagesearch.api.errors import as_api_error
from imagesearch.api.feedback import search_with_feedback
from imagesearch.faces.scoring import SAME_PERSON_SCORE
from imagesearch.faces.search import FaceSelector
from imagesearch.api.ingest import Ingestor
from imagesearch.inference.nsfw import NSFW_LABEL_THRESHOLD
from imagesearch.ocr.matching import MATCH_THRESHOLD
from imagesearch.ocr.query import MatchMode, TextQuery, parse_query
from imagesearch.ocr.errors import InvalidTextQuery
from imagesearch.ocr.search import search_text, verified_search
from imagesearch.store import filters as store_filters
from imagesearch.store.base import ScoredHit, StoredPoint

# A search to run: (how many hits, the engine filter) -> hits, best first.
_Search = Callable[[int, "store_filters.Filter | None"], Awaitable[list[ScoredHit]]]

_MATCH_MODES = {
    pb.TEXT_MATCH_MODE_UNSPECIFIED: MatchMode.ALL_WORDS,
    pb.TEXT_MATCH_MODE_ALL_WORDS: MatchMode.ALL_WORDS,
    pb.TEXT_MATCH_MODE_PHRASE: MatchMode.PHRASE,
}


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
            raise invalid("image", "the request carries no query: set image, text, item or face")
        if query == "face":
            if request.HasField("image_text_filter"):
                raise invalid("image_text_filter", "face queries take no image_text_filter yet: search without one")
            async for response in self._face_hits(collection, request, limit, flt):
                yield response
            return
        if query == "image_text":
            if request.HasField("image_text_filter"):
                raise invalid("image_text_filter", "an image_text query takes its words in image_text: put the "
                              "filter's words there (mode ALL_WORDS) and leave image_text_filter unset")
            for response in await self._image_text_hits(collection, request, limit, flt):
                yield response
            return
        condition = await self._text_condition(collection, request)
        if query in ("text", "item"):
            hits_of = self._text_hits if query == "text" else self._item_hits

            async def run(fetch: int, engine_filter: store_filters.Filter | None) -> list[ScoredHit]:
                return await hits_of(collection, request, fetch, threshold, engine_filter)
        else:
            served = await self.ctx.served_set_of(collection, request.model_set)
            image = await self.ctx.image(request.image)
            space = served.spec.image_query_space
            vector = await served.embed_image_for(image, space)

            async def run(fetch: int, engine_filter: store_filters.Filter | None) -> list[ScoredHit]:
                return await self.ctx.store.search(collection, vector, fetch, threshold, space, flt=engine_filter)
        if condition is not None:
            for response in await self._text_filtered(collection, condition, limit, run, flt):
                yield response
            return
        for rank, hit in enumerate(await run(limit, flt), start=1):
            yield convert.search_hit(collection, hit, rank)

    async def _text_condition(self, collection: str, request: pb.SearchItemsRequest) -> TextQuery | None:
        """image_text_filter parsed (checked before any embedding), or None when unset."""
        if not request.HasField("image_text_filter"):
            return None
        try:
            condition = parse_query(request.image_text_filter.text, _MATCH_MODES[request.image_text_filter.mode])
        except InvalidTextQuery as exc:
            raise as_api_error(exc, "image_text_filter.text") from exc
        await self.ctx.require_ocr(collection)
        return condition

    async def _text_filtered(
        self, collection: str, condition: TextQuery, limit: int, run: _Search, flt: store_filters.Filter | None,
    ) -> list[pb.SearchItemsResponse]:
        """The search `run` restricted to items whose text holds image_text_filter's words
        (n-grams in the engine, verified here: imagesearch.ocr.search.verified_search)."""
        found = await verified_search(self.ctx.store, collection, condition, limit, run, flt)
        responses = []
        for rank, verified in enumerate(found, start=1):
            response = convert.search_hit(collection, verified.hit, rank)
            response.matched_lines.extend(convert.text_line(m.line) for m in verified.match.lines)
            responses.append(response)
        return responses

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

    async def _face_hits(
        self, collection: str, request: pb.SearchItemsRequest, limit: int, flt: store_filters.Filter | None
    ) -> AsyncIterator[pb.SearchItemsResponse]:
        """For each query face (or the one chosen), the items showing that person."""
        if flt is not None:
            raise invalid("filter", "face queries take no filter yet: search without one")
        faces = await self.ctx.faces_of(collection)
        query = request.face
        if query.HasField("face_index") and query.face_index < 0:
            raise invalid("face.face_index", f"face.face_index must be >= 0, got {query.face_index}")
        image = await self.ctx.image(query.image, "face.image")
        threshold = validation.min_score(request) if request.HasField("min_score") else SAME_PERSON_SCORE
        selector = FaceSelector(index=query.face_index if query.HasField("face_index") else None)
        resolved = await self.ctx.store.resolve(collection)
        for result in await faces.search_image(resolved, image, selector, limit, threshold):
            found = {p.id: p for p in await self.ctx.store.get(collection, [m.item_id for m in result.matches])}
            rank = 0
            for match in result.matches:
                if match.item_id not in found:
                    continue  # deleted since its faces were read
                rank += 1
                yield pb.SearchItemsResponse(
                    item=convert.item(collection, found[match.item_id]), score=match.score, similarity=match.score,
                    rank=rank, face=pb.FaceMatch(box=convert.box(match.box), query_face_index=result.query_index),
                )

    async def _image_text_hits(
        self, collection: str, request: pb.SearchItemsRequest, limit: int, flt: store_filters.Filter | None
    ) -> list[pb.SearchItemsResponse]:
        """Items whose text (read at insert) holds the query's words."""
        query = parse_query(request.image_text.text, _MATCH_MODES[request.image_text.mode])
        await self.ctx.require_ocr(collection)
        threshold = validation.min_score(request) if request.HasField("min_score") else MATCH_THRESHOLD
        hits = await search_text(self.ctx.store, collection, query, limit, threshold, flt)
        return [
            pb.SearchItemsResponse(
                item=convert.item(collection, StoredPoint(id=hit.id, metadata=hit.metadata)), score=hit.score,
                similarity=hit.score, rank=rank, matched_lines=[convert.text_line(m.line) for m in hit.match.lines],
            )
            for rank, hit in enumerate(hits, start=1)
        ]

    @unary_errors
    async def ReadImageText(self, request: pb.ReadImageTextRequest, context) -> pb.ReadImageTextResponse:
        reader = await self.ctx.require_ocr()
        lines = await reader.read(await self.ctx.image(request.image))
        return pb.ReadImageTextResponse(lines=[convert.text_line(line) for line in lines])

    @unary_errors
    async def DetectFaces(self, request: pb.DetectFacesRequest, context) -> pb.DetectFacesResponse:
        if self.ctx.faces is None:
            raise failed_precondition(ErrorReason.FACES_NOT_ENABLED,
                                      "this server has no face model: run `imagesearch models setup` and restart it")
        detection = await self.ctx.faces.detect(await self.ctx.image(request.image))
        return convert.detected_faces(detection)

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

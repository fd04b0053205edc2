"""Search handlers: SearchItems (by image, text or stored item), FindDuplicates and
ModerateImage."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import AsyncIterator, Awaitable, Callable

import grpc
from imagesearch_client import names
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import convert, validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import ApiError, failed_precondition, invalid, item_not_found, stream_errors, unary_errors
from imagesearch.api.errors import as_api_error
from imagesearch.api.feedback import search_with_feedback
from imagesearch.faces.scoring import SAME_PERSON_SCORE
from imagesearch.faces.errors import FaceNotFound
from imagesearch.faces.manager import FaceManager
from imagesearch.faces.search import FaceQueryResult, FaceSelector
from imagesearch.store.faces import face_id
from imagesearch.api.ingest import Ingestor
from imagesearch.api.people import face_match, person_hits
from imagesearch.inference.model_sets import ServedModelSet
from imagesearch.inference.nsfw import NSFW_LABEL_THRESHOLD
from imagesearch.ocr.matching import MATCH_THRESHOLD
from imagesearch.ocr.query import MatchMode, TextQuery, parse_query
from imagesearch.ocr.errors import InvalidTextQuery
from imagesearch.ocr.search import search_text, verified_search
from imagesearch.store import filters as store_filters
from imagesearch.store.base import ScoredHit, StoredPoint
from imagesearch.dedup.fingerprint import Fingerprint, fingerprint_from_parts
from imagesearch.scoring import registry as scoring_registry
from imagesearch.scoring.calibration import TEXT_PREFIX
from imagesearch.scoring.scorer import Scorer
from imagesearch.scoring.search import ImageQuery, ScoredResult, query_vectors, scored_search

# A search to run: (how many hits, the engine filter) -> hits, best first.
_Search = Callable[[int, "store_filters.Filter | None"], Awaitable[list[ScoredHit]]]
# The same with calibrated results (scoring/): -> (results, the calibration's label).
_ScoredSearch = Callable[[int, "store_filters.Filter | None"], Awaitable["tuple[list[ScoredResult], str]"]]

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
            raise invalid("image", "the request carries no query: set image, text, item, face, image_text or person")
        if query in ("face", "person", "image_text") and request.HasField("image_text_filter"):
            raise invalid("image_text_filter", f"a {query} query takes no image_text_filter: search without one"
                          + (" (put the filter's words in image_text, mode ALL_WORDS)" if query == "image_text" else ""))
        if query == "face":
            async for response in self._face_hits(collection, request, limit, flt):
                yield response
            return
        if query == "person":
            async for response in person_hits(self.ctx, collection, request, limit, flt):
                yield response
            return
        if query == "image_text":
            for response in await self._image_text_hits(collection, request, limit, flt):
                yield response
            return
        copies = request.mode == pb.SEARCH_MODE_COPIES
        if copies and query != "image":
            raise invalid("mode", f"mode SEARCH_MODE_COPIES needs an image query, got a {query!r} query: send the "
                          "image, or leave mode unset")
        condition = await self._text_condition(collection, request)  # checked before any embedding
        run = await self._scored_search(collection, request, query, threshold, copies)
        if condition is not None:
            for response in await self._text_filtered(collection, condition, limit, run, flt):
                yield response
            return
        results, label = await run(limit, flt)
        for rank, result in enumerate(results, start=1):
            response = convert.search_hit(collection, result.hit, rank)
            response.score_calibration, response.near_duplicate = label, result.copy
            yield response

    async def _scored_search(
        self, collection: str, request: pb.SearchItemsRequest, query: str, threshold: float, copies: bool
    ) -> _ScoredSearch:
        """The text, item or image query as a search to run: (how many hits, the engine
        filter) -> (calibrated results, the calibration's label)."""
        if query in ("text", "item"):
            hits_of = self._text_hits if query == "text" else self._item_hits

            async def run(fetch: int, engine_filter: store_filters.Filter | None) -> tuple[list[ScoredResult], str]:
                return await hits_of(collection, request, fetch, threshold, engine_filter)
            return run
        served = await self.ctx.served_set_of(collection, request.model_set)
        image = await self.ctx.image(request.image)
        space = served.spec.image_query_space
        scorer = Scorer(await self._calibration(collection, served), space)
        image_query = ImageQuery(data=image)
        if scorer.candidates and not copies and served.analyser is not None:
            image_query = await _analysed_query(served, image, space)
        vectors = await query_vectors(
            image_query, lambda b: served.embed_image_for(b, space), copies, self.ctx.decode
        )

        async def run_image(fetch: int, engine_filter: store_filters.Filter | None) -> tuple[list[ScoredResult], str]:
            results = await scored_search(
                self.ctx.store, collection, space, scorer, image_query, vectors, fetch, threshold,
                self.ctx.decode, engine_filter,
            )
            return results, scorer.label
        return run_image

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
        self, collection: str, condition: TextQuery, limit: int, run: _ScoredSearch, flt: store_filters.Filter | None,
    ) -> list[pb.SearchItemsResponse]:
        """The search `run` restricted to items whose text holds image_text_filter's words
        (n-grams in the engine, verified here: imagesearch.ocr.search.verified_search)."""
        label, copies = "", {}

        async def hits(fetch: int, engine_filter: store_filters.Filter | None) -> list[ScoredHit]:
            nonlocal label
            results, label = await run(fetch, engine_filter)
            copies.update((result.hit.id, result.copy) for result in results)
            return [result.hit for result in results]

        found = await verified_search(self.ctx.store, collection, condition, limit, hits, flt)
        responses = []
        for rank, verified in enumerate(found, start=1):
            response = convert.search_hit(collection, verified.hit, rank)
            response.score_calibration, response.near_duplicate = label, copies.get(verified.hit.id, False)
            response.matched_lines.extend(convert.text_line(m.line) for m in verified.match.lines)
            responses.append(response)
        return responses

    async def _text_hits(
        self, collection: str, request: pb.SearchItemsRequest, limit: int, threshold: float,
        flt: store_filters.Filter | None,
    ) -> tuple[list[ScoredResult], str]:
        """A text query, in the collection's text-image space (its own calibration)."""
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
        scorer = Scorer(await self._calibration(collection, served), f"{TEXT_PREFIX}{space}")
        floor = max(scorer.min_cosine(threshold), 0.0) if threshold > 0 else 0.0
        if space == served.spec.image_query_space:
            hits = await self.ctx.store.search(collection, vector, limit, floor, space, flt=flt)
        else:
            # A separate text space is coarse (offline set): re-rank through the image space.
            hits = await search_with_feedback(
                self.ctx.store, collection, vector, space, served.spec.image_query_space, limit, floor, flt=flt
            )
        # The calibration maps the fused (or cosine) score monotonically: the order stays.
        # `floor` came from the fused score's own map, which caps the score: the best hit
        # is never below it when any hit is.
        best = hits[0].score if hits else 0.0
        scored = [ScoredResult(replace(h, score=scorer.text_score(h.score, best)), 0, False) for h in hits]
        return [r for r in scored if r.hit.score >= threshold], scorer.label

    async def _calibration(self, collection: str, served):
        """The calibration the collection pinned at its creation (scoring/registry.pinned)."""
        return scoring_registry.pinned(served.spec.name, await self.ctx.store.score_pin(collection))

    async def _item_hits(
        self, collection: str, request: pb.SearchItemsRequest, limit: int, threshold: float,
        flt: store_filters.Filter | None,
    ) -> tuple[list[ScoredResult], str]:
        """"More like this": a stored item's vector (and fingerprint) is the query."""
        parsed = validation.item_of(request.item, "item")
        if parsed.collection_id != collection:
            raise invalid("item", f"item {request.item[:120]!r} is not in {request.parent!r}: search its own "
                          "collection")
        served = await self.ctx.served_set_of(collection, request.model_set)
        space = served.spec.image_query_space
        found = await self.ctx.store.get(collection, [parsed.item_id], with_vectors=True)
        if not found or not found[0].vectors or space not in found[0].vectors:
            raise item_not_found(collection, parsed.item_id)
        point = found[0]
        query = ImageQuery(
            vector=point.vectors[space],
            fingerprint=Fingerprint.from_payload(point.fingerprint) if point.fingerprint else None,
            # The query item itself is dropped unless asked for.
            exclude_id=None if request.include_query_item else parsed.item_id,
        )
        scorer = Scorer(await self._calibration(collection, served), space)
        results = await scored_search(
            self.ctx.store, collection, space, scorer, query, {0: query.vector}, limit, threshold, self.ctx.decode,
            flt,
        )
        return results, scorer.label

    async def _face_hits(
        self, collection: str, request: pb.SearchItemsRequest, limit: int, flt: store_filters.Filter | None
    ) -> AsyncIterator[pb.SearchItemsResponse]:
        """For each query face (or the one chosen), the items showing that person."""
        if flt is not None:
            raise invalid("filter", "face queries take no filter yet: search without one")
        faces = await self.ctx.faces_of(collection)
        threshold = validation.min_score(request) if request.HasField("min_score") else SAME_PERSON_SCORE
        resolved = await self.ctx.store.resolve(collection)
        for result in await self._face_query(collection, request, faces, resolved, limit, threshold):
            found = {p.id: p for p in await self.ctx.store.get(collection, [m.item_id for m in result.matches])}
            rank = 0
            for match in result.matches:
                if match.item_id not in found:
                    continue  # deleted since its faces were read
                rank += 1
                yield pb.SearchItemsResponse(
                    item=convert.item(collection, found[match.item_id]), score=match.score, similarity=match.score,
                    rank=rank, face=face_match(collection, match, result.query_index),
                )

    async def _face_query(
        self, collection: str, request: pb.SearchItemsRequest, faces: FaceManager, resolved: str, limit: int,
        threshold: float,
    ) -> list[FaceQueryResult]:
        """The face query's results: a stored face's, or those of the chosen faces of an image."""
        query = request.face
        if query.face:
            if query.HasField("image") or query.HasField("face_index") or query.HasField("box"):
                raise invalid("face.face", "a stored-face query takes no image, face_index or box: send either "
                              "face.face or face.image")
            try:
                parsed = names.parse_face_name(query.face)
            except names.InvalidName as exc:
                raise as_api_error(exc, "face.face") from None
            if parsed.collection_id != collection:
                raise invalid("face.face", f"{query.face[:120]!r} is not in {request.parent!r}: search its own "
                              "collection")
            try:
                return [await faces.search_face(resolved, face_id(parsed.item_id, parsed.index), limit, threshold)]
            except FaceNotFound:
                raise FaceNotFound(f"no face {query.face[:200]!r}: face and person hits and GetPerson name "
                                   "stored faces", query.face) from None
        if query.HasField("face_index") and query.face_index < 0:
            raise invalid("face.face_index", f"face.face_index must be >= 0, got {query.face_index}")
        if query.HasField("face_index") and query.HasField("box"):
            raise invalid("face.box", "choose the query face by face_index or by box, not both")
        image = await self.ctx.image(query.image, "face.image")
        box = (query.box.left, query.box.top, query.box.right, query.box.bottom) if query.HasField("box") else None
        selector = FaceSelector(index=query.face_index if query.HasField("face_index") else None, box=box)
        return await faces.search_image(resolved, image, selector, limit, threshold)

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
            raise failed_precondition(ErrorReason.FACES_NOT_ENABLED, self.ctx.faces_off)
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


async def _analysed_query(served: ServedModelSet, image: bytes, space: str) -> ImageQuery:
    """An image query with its vector and its fingerprint (for the copy check) from one
    decode in Triton's image_analysis pipeline, as inserts get theirs: this process then
    does not decode the query (its fingerprint was a draft-mode decode here, about 1 ms of
    API CPU per image query). Not for the copies mode, whose turned queries are embedded
    one by one."""
    result = await served.analyse_image(image, nsfw=False)
    parts = result.fingerprint
    return ImageQuery(
        data=image, vector=result.vectors[space], fingerprint=fingerprint_from_parts(image, parts.thumb, parts.phash)
    )

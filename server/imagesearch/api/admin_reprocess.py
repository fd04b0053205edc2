"""ReprocessCollection: store/reprocess.py bound to the models this server serves, with its
progress streamed to the caller.

The run is a task beside the stream: progress callbacks feed a queue the handler yields
from. A client that cancels (or a server that dies) stops the run between pages; the same
call later resumes it, since progress is the stored data itself (reprocess.py). One run per
source collection at a time (OPERATION_ALREADY_RUNNING).
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import grpc
from imagesearch_client.v1 import admin_pb2 as apb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import ApiError, failed_precondition, invalid, stream_errors
from imagesearch.dedup.fingerprint import fingerprint
from imagesearch.inference.model_sets import ServedModelSet
from imagesearch.limits import REPROCESS_NO_ORIGINAL_SAMPLE
from imagesearch.store.base import CollectionNotFound
from imagesearch.store.features import Feature
from imagesearch.store.reprocess import Encoded, Encoder, ReprocessMode, ReprocessReport, reprocess
from imagesearch_client import names

MODES = {apb.REPROCESS_MODE_FILL: ReprocessMode.FILL, apb.REPROCESS_MODE_REEMBED: ReprocessMode.REEMBED}


def bind_encoder(ctx: ServiceContext, served: ServedModelSet, scoring: bool) -> Encoder:
    """The served models as reprocess.py's encoder: vectors, fingerprint, NSFW score (when
    the collection scores), computed at once as an insert does."""

    async def encode(image: bytes) -> Encoded:
        async def no_score() -> None:
            return None

        vectors, score, fp = await asyncio.gather(
            served.embed_image(image), ctx.nsfw.score(image) if scoring else no_score(),
            asyncio.to_thread(fingerprint, image),
        )
        return Encoded(vectors=vectors, fingerprint=fp.to_payload(), nsfw_score=score)

    return encode


class ReprocessHandlers:
    """ReprocessCollection."""

    ctx: ServiceContext
    reprocessing: set[str]

    async def _plan(self, request: apb.ReprocessCollectionRequest):
        source = await self.ctx.store.resolve(validation.collection_of(request.name, "name"))
        mode = MODES.get(request.mode)
        if mode is None:
            raise invalid("mode", "mode must be REPROCESS_MODE_FILL or REPROCESS_MODE_REEMBED")
        have = await self.ctx.store.model_set(source)
        scoring = (await self.ctx.store.moderation(source)).scoring
        if mode is ReprocessMode.FILL:
            served = await self.ctx.served_set_of(source)
            provides = frozenset({Feature.FINGERPRINT.value} | ({Feature.NSFW.value} if scoring else set()))
            return source, mode, None, served, scoring, provides
        if not request.target_collection_id:
            raise invalid("target_collection_id", "REEMBED writes into a new collection: set target_collection_id "
                          "(then switch an alias to it with UpdateAlias)")
        target = validation.collection_id(request.target_collection_id, "target_collection_id")
        if await self.ctx.store.resolve(target) == source:
            raise invalid("target_collection_id", "target_collection_id is the source collection: REEMBED builds a "
                          "new one beside it; to fill in missing features in place, use REPROCESS_MODE_FILL")
        set_name = validation.model_set_name(request.target_model_set or have.name, self.ctx.model_sets,
                                             "target_model_set")
        served = self.ctx.model_sets.get(set_name)
        if served is None:
            raise self.ctx.not_served(set_name, f"target_model_set {set_name!r} was asked for")
        await self._check_target(target, served)
        return source, mode, target, served, scoring, frozenset()

    async def _check_target(self, target: str, served: ServedModelSet) -> None:
        """An existing target (an interrupted run's) must have the set being written."""
        try:
            existing = await self.ctx.store.model_set(target)
        except CollectionNotFound:
            return
        if existing != served.record:
            raise failed_precondition(
                ErrorReason.MODEL_SET_MISMATCH,
                f"collection {target!r} exists with another model set than {served.spec.name!r} as served now: pick "
                "another target_collection_id", collection=target)

    @stream_errors
    async def ReprocessCollection(
        self, request: apb.ReprocessCollectionRequest, context
    ) -> AsyncIterator[apb.ReprocessCollectionResponse]:
        source, mode, target, served, scoring, provides = await self._plan(request)
        if source in self.reprocessing:
            raise ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorReason.OPERATION_ALREADY_RUNNING,
                           f"collection {source!r} is being re-processed already: wait for that run to finish",
                           "", {"collection": source})
        if not await self.ctx.store.keeps_originals(source):
            raise failed_precondition(
                ErrorReason.ORIGINALS_NOT_KEPT,
                f"collection {source!r} keeps no originals, so its images cannot be run through the models again: "
                "re-insert them into a collection created with keep_originals", collection=source)
        queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        self.reprocessing.add(source)
        run = asyncio.create_task(reprocess(
            self.ctx.store, source, bind_encoder(self.ctx, served, scoring), mode, target=target,
            target_model_set=served.record if target else None,
            progress=lambda done, total: queue.put_nowait((done, total)), provides=provides,
        ))
        getter: asyncio.Future | None = None
        try:
            while not run.done() or not queue.empty():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, run}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    done, total = getter.result()
                    yield apb.ReprocessCollectionResponse(done_count=done, total_count=total)
                else:
                    getter.cancel()
            yield _final(run.result())
        finally:  # the caller left (or the run ended): stop the run between pages
            run.cancel()
            if getter is not None:
                getter.cancel()
            self.reprocessing.discard(source)


def _final(report: ReprocessReport) -> apb.ReprocessCollectionResponse:
    done = report.processed + report.skipped + len(report.no_original)
    return apb.ReprocessCollectionResponse(
        done_count=done, total_count=report.total, finished=True, processed_count=report.processed,
        skipped_count=report.skipped, removed_count=report.removed,
        no_original_item_ids=report.no_original[:REPROCESS_NO_ORIGINAL_SAMPLE],
        target=names.collection_name(report.target),
    )

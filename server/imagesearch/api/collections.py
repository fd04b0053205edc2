"""Collection handlers: the standard methods on "collections/{collection}"."""

from __future__ import annotations

import grpc
from google.protobuf import empty_pb2
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import convert, pages, validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import ApiError, failed_precondition, invalid, unary_errors
from imagesearch.api.ingest import Ingestor
from imagesearch.models.model_sets import MODEL_SETS
from imagesearch.scoring import registry as scoring_registry
from imagesearch.store.base import ModerationPolicy, OcrPolicy, OriginalsUnsupported

UPDATABLE_COLLECTION_FIELDS = ("description", "max_nsfw_score")


class CollectionHandlers:
    """CreateCollection, GetCollection, ListCollections, UpdateCollection, DeleteCollection."""

    ctx: ServiceContext
    ingestor: Ingestor

    @unary_errors
    async def CreateCollection(self, request: pb.CreateCollectionRequest, context) -> pb.Collection:
        collection_id = validation.collection_id(request.collection_id)
        wanted = request.collection
        set_name = validation.model_set_name(wanted.model_set or self.ctx.default_model_set, MODEL_SETS)
        moderation = validation.moderation(wanted)
        description = validation.description(wanted.description)
        served = self.ctx.model_sets.get(set_name)
        if served is None:
            raise self.ctx.not_served(set_name, f"model set {set_name!r} was asked for")
        if wanted.faces_enabled and self.ctx.faces is None:
            raise failed_precondition(ErrorReason.FACES_NOT_ENABLED, self.ctx.faces_off.replace(
                " and restart it", " and restart it, or create the collection without faces"))
        if wanted.ocr_enabled:
            await self.ctx.require_ocr()
        await self._check_collection_limit()
        try:
            info = await self.ctx.store.create_collection(
                collection_id, served.record, moderation, description, keep_originals=wanted.keep_originals,
                ocr=OcrPolicy(enabled=wanted.ocr_enabled),
            )
        except OriginalsUnsupported as exc:
            raise invalid("collection.keep_originals", str(exc)) from None
        if wanted.faces_enabled:
            await self.ctx.faces.enable(collection_id)
        return await self._resource(info)

    async def _check_collection_limit(self) -> None:
        """Refuses a collection past max_collections (docs/security.md, "Quotas"); two creations
        racing at the cap may both pass: the cap bounds resources, it is not an exact count."""
        limit = self.ctx.limits.max_collections
        if limit and len(await self.ctx.store.list_collections()) >= limit:
            raise ApiError(grpc.StatusCode.RESOURCE_EXHAUSTED, ErrorReason.COLLECTION_LIMIT_REACHED,
                           f"the server holds {limit} collections, its limit (max_collections): delete one, "
                           "or raise max_collections", "", {"limit": str(limit)})

    async def _resource(self, info) -> pb.Collection:
        resource = convert.collection(info, await self.ctx.store.keeps_originals(info.name))
        resource.faces_enabled = await self.ctx.faces_enabled(info.name)
        resource.ocr_enabled = info.ocr.enabled
        resource.score_calibration = scoring_registry.pin_label(info.model_set.name, info.score_pin)
        return resource

    @unary_errors
    async def GetCollection(self, request: pb.GetCollectionRequest, context) -> pb.Collection:
        collection_id = validation.collection_of(request.name, "name")
        return await self._resource(await self.ctx.store.get_collection(collection_id))

    @unary_errors
    async def ListCollections(self, request: pb.ListCollectionsRequest, context) -> pb.ListCollectionsResponse:
        size = validation.page_size(request.page_size)
        digest = pages.request_digest("collections")
        after = pages.decode(request.page_token, digest)
        infos = [i for i in await self.ctx.store.list_collections() if after is None or i.name > after]
        page = infos[:size]
        token = pages.encode(page[-1].name, digest) if len(infos) > size else ""
        return pb.ListCollectionsResponse(collections=[await self._resource(i) for i in page], next_page_token=token)

    @unary_errors
    async def UpdateCollection(self, request: pb.UpdateCollectionRequest, context) -> pb.Collection:
        wanted = request.collection
        collection_id = validation.collection_of(wanted.name, "collection.name")
        paths = set(request.update_mask.paths) - {"*"} or set(UPDATABLE_COLLECTION_FIELDS)
        unknown = paths - set(UPDATABLE_COLLECTION_FIELDS)
        if unknown:
            raise invalid("update_mask", f"update_mask names {sorted(unknown)}, which cannot change: only "
                          f"{', '.join(UPDATABLE_COLLECTION_FIELDS)} can (the rest is fixed at creation)")
        description = validation.description(wanted.description) if "description" in paths else None
        moderation = None
        if "max_nsfw_score" in paths:
            current = await self.ctx.store.moderation(collection_id)
            limit = (validation.unit_interval(wanted, "max_nsfw_score", "collection.max_nsfw_score")
                     if wanted.HasField("max_nsfw_score") else None)
            if limit is not None and not current.scoring:
                raise invalid("collection.max_nsfw_score", f"collection {collection_id!r} skips NSFW scoring, so "
                              "it cannot refuse inserts by score: create a collection that scores")
            moderation = ModerationPolicy(scoring=current.scoring, max_score=limit)
        info = await self.ctx.store.update_collection(collection_id, description, moderation)
        return await self._resource(info)

    @unary_errors
    async def DeleteCollection(self, request: pb.DeleteCollectionRequest, context) -> empty_pb2.Empty:
        collection_id = validation.collection_of(request.name, "name")
        faces = await self.ctx.faces_enabled(collection_id)
        resolved = await self.ctx.store.resolve(collection_id)
        await self.ctx.store.delete_collection(collection_id)
        if faces:  # after the collection: a crash in between is pruned at the next start
            await self.ctx.faces.disable(resolved)
        self.ingestor.forget(collection_id)
        return empty_pb2.Empty()

"""The insert pipeline shared by CreateItem and ImportItems: check the request, analyse the
image once (embeddings, NSFW score and fingerprint at once), apply the collection's
moderation policy, then store it as the duplicate policy says.

Analyses that later features add (the words in the image, its faces) join
`ImageAnalysis` and `_analyse`, so every insert still reads its image once here and
sends it to Triton once per model.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import grpc
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import convert, validation
from imagesearch.api.context import InsertSettings, ServiceContext
from imagesearch.api.errors import ApiError, failed_precondition
from imagesearch.dedup.detector import Duplicate, DuplicateDetector
from imagesearch.dedup.fingerprint import Fingerprint, fingerprint, fingerprint_from_parts
from imagesearch.dedup.replicas import ReplicaSafeCheck
from imagesearch.inference.faces import FaceDetection
from imagesearch.inference.model_sets import ServedModelSet
from imagesearch.ocr.lines import OcrLine
from imagesearch.store.base import ModerationPolicy, PointToStore, StoredPoint
from imagesearch.store.features import Feature


@dataclass(frozen=True)
class InsertRequest:
    """A checked CreateItemRequest."""

    collection: str
    item_id: str
    metadata: dict[str, Any]
    image: pb.Image
    policy: int


@dataclass(frozen=True)
class ImageAnalysis:
    """What the models and the fingerprinting made of one image."""

    vectors: dict[str, Any]
    nsfw_score: float | None
    fingerprint: Fingerprint
    faces: FaceDetection | None = None  # collections created with faces_enabled
    text_lines: tuple[OcrLine, ...] | None = None  # collections created with ocr_enabled


class Ingestor:
    """Stores images one request at a time; safe to call concurrently."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self.duplicates = DuplicateDetector(ctx.store, pool=ctx.decode)
        self.replicas = ReplicaSafeCheck(ctx.store, self.duplicates, ctx.limits.duplicate_claim_lease_s)
        # Per collection: the duplicate check and the write of a checked insert happen under
        # this lock, so this process's checks of one collection run one at a time (cheap, and
        # one claim per process at most); replicas sharing a store are kept apart by the
        # claims of dedup/replicas.py.
        self._checked_inserts: dict[str, asyncio.Lock] = {}

    def forget(self, collection: str) -> None:
        """Drop per-collection state (the collection was deleted)."""
        self._checked_inserts.pop(collection, None)

    @staticmethod
    def check(request: pb.CreateItemRequest) -> InsertRequest:
        """The request's fields, checked; ApiError naming the first bad one."""
        return InsertRequest(
            collection=validation.collection_of(request.parent),
            item_id=validation.item_id(request.item_id, allow_empty=True),
            metadata=validation.metadata(request.item.metadata),
            image=request.image,
            policy=validation.duplicate_policy(request.duplicate_policy),
        )

    async def create(self, request: pb.CreateItemRequest) -> pb.Item:
        """Store one item; returns it (or, when skipped as a duplicate, the existing one)."""
        insert = self.check(request)
        settings = await self._ctx.insert_settings(insert.collection)
        image = await self._ctx.image(insert.image)
        analysis = await self._analyse(settings, image)
        self._moderate(insert.collection, settings.moderation, analysis.nsfw_score)
        point = PointToStore(
            id=insert.item_id, vectors=analysis.vectors, metadata=insert.metadata,
            fingerprint=analysis.fingerprint.to_payload(), nsfw_score=analysis.nsfw_score,
            original=image if settings.keep_originals else None,
            features=frozenset({Feature.FACES.value}) if settings.faces else frozenset(),
            ocr_lines=analysis.text_lines,
        )
        duplicate = await self._store_unless_duplicate(insert, point, analysis.fingerprint, settings.served)
        skipped = duplicate is not None and insert.policy == pb.DUPLICATE_POLICY_SKIP
        if analysis.faces is not None and not skipped:
            collection = await self._ctx.store.resolve(insert.collection)
            await self._ctx.faces.index_item(collection, point.id, analysis.faces)
        stored = await self._existing(insert.collection, duplicate.id) if skipped else StoredPoint(
            id=point.id, metadata=point.metadata, nsfw_score=point.nsfw_score
        )
        result = convert.item(insert.collection, stored)
        if duplicate is not None:
            result.duplicate.CopyFrom(convert.duplicate_info(insert.collection, duplicate, skipped))
        return result

    async def _analyse(self, settings: InsertSettings, image: bytes) -> ImageAnalysis:
        if settings.served.analyser is not None:
            # Triton's image_analysis decodes once for the vectors, the NSFW score and the
            # fingerprint's parts; this process does not decode at all.
            result, faces, lines = await asyncio.gather(
                settings.served.analyse_image(image, nsfw=settings.moderation.scoring),
                self._ctx.faces.detect(image) if settings.faces else _no_score(),
                self._ctx.ocr.read(image) if settings.ocr else _no_score(),
            )
            fp = fingerprint_from_parts(image, result.fingerprint.thumb, result.fingerprint.phash)
            return ImageAnalysis(result.vectors, result.nsfw_score, fp, faces=faces, text_lines=lines)
        # Without the pipeline (a CLIP set, an older Triton): the embeddings, NSFW score, faces
        # and text (Triton models) and the fingerprint (the decode pool) all run at once.
        vectors, nsfw_score, fp, faces, lines = await asyncio.gather(
            settings.served.embed_image(image),
            self._ctx.nsfw.score(image) if settings.moderation.scoring else _no_score(),
            self._ctx.decode.run(fingerprint, image),
            self._ctx.faces.detect(image) if settings.faces else _no_score(),
            self._ctx.ocr.read(image) if settings.ocr else _no_score(),
        )
        return ImageAnalysis(vectors=vectors, nsfw_score=nsfw_score, fingerprint=fp, faces=faces, text_lines=lines)

    @staticmethod
    def _moderate(collection: str, moderation: ModerationPolicy, nsfw_score: float | None) -> None:
        if moderation.max_score is not None and nsfw_score is not None and nsfw_score > moderation.max_score:
            raise failed_precondition(
                ErrorReason.NSFW_SCORE_TOO_HIGH,
                f"the image's NSFW score is {nsfw_score:.3f}; collection {collection!r} refuses images scoring "
                f"above {moderation.max_score:g} (its max_nsfw_score)",
                collection=collection, nsfw_score=f"{nsfw_score:.4f}", limit=f"{moderation.max_score:g}",
            )

    async def _store_unless_duplicate(
        self, insert: InsertRequest, point: PointToStore, fp: Fingerprint, served: ServedModelSet
    ) -> Duplicate | None:
        """Store `point` as the policy says; returns the stored item it duplicates, if any.

        SKIP stores nothing when there is one, REJECT raises ALREADY_EXISTS, ALLOW stores
        anyway and IGNORE stores without looking.
        """
        name, space = insert.collection, served.spec.image_query_space
        if insert.policy == pb.DUPLICATE_POLICY_IGNORE:
            await self._ctx.store.upsert(name, [point])
            return None
        async with self._checked_inserts.setdefault(name, asyncio.Lock()):
            # Check and write, correct across replicas sharing the store (dedup/replicas.py).
            duplicate = await self.replicas.store_unless_duplicate(
                name, point, fp, space, store_anyway=insert.policy == pb.DUPLICATE_POLICY_ALLOW
            )
            if duplicate is not None and insert.policy == pb.DUPLICATE_POLICY_REJECT:
                raise _duplicate_error(name, duplicate)
            return duplicate

    async def _existing(self, collection: str, item_id: str) -> StoredPoint:
        found = await self._ctx.store.get(collection, [item_id])
        return found[0] if found else StoredPoint(id=item_id, metadata={})


def _duplicate_error(collection: str, duplicate: Duplicate) -> ApiError:
    kind = "the same bytes as" if duplicate.exact else f"a near-duplicate (score {duplicate.score:.3f}) of"
    return ApiError(
        grpc.StatusCode.ALREADY_EXISTS,
        ErrorReason.DUPLICATE_IMAGE,
        f"the image is {kind} item {duplicate.id!r} in collection {collection!r}, and duplicate_policy is "
        "REJECT: use SKIP to get the existing item back, or ALLOW to store it anyway",
        "",
        {"collection": collection, "item": duplicate.id, "exact": str(duplicate.exact).lower(),
         "score": f"{duplicate.score:.4f}"},
    )


async def _no_score() -> None:
    """Stands in for a model a collection does not use (NSFW scoring, faces, OCR)."""
    return None

"""What every handler shares: the store, the served model sets, the fetcher, and the
checks that need them (which model set serves a collection, the request's image, its
filter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import filters, validation
from imagesearch.decode_pool import DecodePool
from imagesearch.api.errors import failed_precondition, invalid
from imagesearch.faces.errors import FacesNotEnabled
from imagesearch.faces.manager import FaceManager
from imagesearch.fetch.fetcher import UrlFetcher
from imagesearch.inference.model_sets import ServedModelSet
from imagesearch.inference.ocr import OcrReader
from imagesearch.inference.nsfw import NsfwScorer
from imagesearch.limits import DEFAULT_DECODE_CONCURRENCY, DUPLICATE_CLAIM_LEASE_S, MAX_COLLECTIONS
from imagesearch.models.model_sets import MODEL_SETS
from imagesearch.store import filters as store_filters
from imagesearch.store.base import ModelSetRecord, ModerationPolicy, VectorStore


# Why a server has no faces, with the fix (FACES_NOT_ENABLED's message).
NO_FACE_MODEL = "this server has no face model: run `imagesearch models setup` and restart it"
FACES_NEED_EMBEDDED_STORE = (
    "faces need the embedded store, and this server keeps its collections in a remote Qdrant (qdrant_url): "
    "serve face collections from a server with a local data dir (no --qdrant-url), or create the collection "
    "without faces"
)


@dataclass(frozen=True)
class ServiceLimits:
    """The settings the handlers enforce."""

    max_image_pixels: int
    insert_concurrency: int
    max_collections: int = MAX_COLLECTIONS  # CreateCollection past it: COLLECTION_LIMIT_REACHED
    # How long a checked insert's claim blocks near-copies after its owner died (dedup/replicas.py).
    duplicate_claim_lease_s: float = DUPLICATE_CLAIM_LEASE_S
    decode_concurrency: int = DEFAULT_DECODE_CONCURRENCY


@dataclass(frozen=True)
class InsertSettings:
    """A collection's settings as one insert sees them."""

    served: ServedModelSet
    moderation: ModerationPolicy
    keep_originals: bool
    faces: bool
    ocr: bool


@dataclass
class ServiceContext:
    """The parts the handlers are written against (fakes of the store and encoders fit)."""

    store: VectorStore
    model_sets: Mapping[str, ServedModelSet]
    default_model_set: str
    limits: ServiceLimits
    fetcher: UrlFetcher
    nsfw: NsfwScorer
    # Faces and people (imagesearch.faces); None when the server has no face model.
    faces: FaceManager | None = None
    # The OCR model's client; None when the server has no OCR model.
    ocr: OcrReader | None = None
    # Why `faces` is None, with the fix: no face model, or a remote Qdrant.
    faces_off: str = NO_FACE_MODEL
    # Where the API process decodes images, at most limits.decode_concurrency at once.
    decode: DecodePool = field(init=False)

    def __post_init__(self) -> None:
        self.decode = DecodePool(self.limits.decode_concurrency)

    async def insert_settings(self, collection: str) -> InsertSettings:
        """Everything an insert needs to know about its collection, read once: the served
        model set, moderation, keep_originals, faces and OCR (in memory for the embedded
        store, TTL-cached for a remote Qdrant)."""
        return InsertSettings(
            served=await self.served_set_of(collection),
            moderation=await self.store.moderation(collection),
            keep_originals=await self.store.keeps_originals(collection),
            faces=await self.faces_enabled(collection),
            ocr=await self.ocr_enabled(collection),
        )

    async def ocr_enabled(self, collection: str) -> bool:
        """Whether inserts into `collection` read the text in their images."""
        return self.ocr is not None and (await self.store.ocr_policy(collection)).enabled

    async def require_ocr(self, collection: str | None = None) -> OcrReader:
        """The OCR client (for a collection created with ocr_enabled); OCR_NOT_ENABLED otherwise."""
        if self.ocr is None:
            raise failed_precondition(ErrorReason.OCR_NOT_ENABLED, "this server has no OCR model: run "
                                      "`imagesearch models setup` and restart it")
        if collection is not None and not (await self.store.ocr_policy(collection)).enabled:
            raise failed_precondition(
                ErrorReason.OCR_NOT_ENABLED,
                f"collection {collection!r} was created without ocr_enabled: create a collection with ocr_enabled "
                "and insert its images again", collection=collection,
            )
        return self.ocr

    async def faces_of(self, collection: str) -> FaceManager:
        """The face manager, for a collection created with faces_enabled; FacesNotEnabled
        (FAILED_PRECONDITION) otherwise."""
        if self.faces is None:
            raise FacesNotEnabled(self.faces_off)
        await self.store.model_set(collection)  # COLLECTION_NOT_FOUND before FACES_NOT_ENABLED
        if not await self.faces.enabled(await self.store.resolve(collection)):
            raise FacesNotEnabled(
                f"collection {collection!r} was created without faces_enabled: create a collection with "
                "faces_enabled and insert its images again"
            )
        return self.faces

    async def faces_enabled(self, collection: str) -> bool:
        """Whether inserts into `collection` detect faces."""
        return self.faces is not None and await self.faces.enabled(await self.store.resolve(collection))

    async def image(self, message: pb.Image, field: str = "image") -> bytes:
        """The request's image: its bytes, or the download of its URI, header-checked."""
        source = message.WhichOneof("source")
        if source is None:
            raise invalid(f"{field}.content", f"{field} is not set: set {field}.content (the encoded bytes) "
                          f"or {field}.uri (an http(s) URL)", ErrorReason.IMAGE_EMPTY)
        if source == "uri":
            data = await self.fetcher.fetch(message.uri)
            return validation.image_header(data, self.limits.max_image_pixels, f"{field}.uri")
        return validation.image_header(message.content, self.limits.max_image_pixels, f"{field}.content")

    async def search_filter(self, collection: str, request) -> store_filters.Filter | None:
        """The request's filter, narrowed to items scoring at most its max_nsfw_score (if
        set); FAILED_PRECONDITION where the collection keeps no scores. Items without a
        score (stored before scores were kept) do not pass a cap."""
        flt = filters.request_filter(request)
        if not request.HasField("max_nsfw_score"):
            return flt
        cap = store_filters.Range(
            store_filters.NSFW_FIELD, lte=validation.unit_interval(request, "max_nsfw_score")
        )
        if not (await self.store.moderation(collection)).scoring:
            raise failed_precondition(
                ErrorReason.NSFW_SCORES_MISSING,
                f"collection {collection!r} was created with skip_nsfw_scoring, so its items have no NSFW score "
                "to cap: search without max_nsfw_score, or re-index into a collection that scores",
                collection=collection,
            )
        return store_filters.Filter(must=(cap,) if flt is None else (flt, cap))

    async def served_set_of(self, collection: str, expected_set: str = "") -> ServedModelSet:
        """The served model set that made the collection's vectors, at the same versions.

        FAILED_PRECONDITION when the caller expected another set, when this server does
        not serve the collection's set, or serves it with other models or versions.
        """
        have = await self.store.model_set(collection)
        if expected_set and expected_set != have.name:
            raise failed_precondition(
                ErrorReason.MODEL_SET_MISMATCH,
                f"collection {collection!r} was built with model set {have.name!r}, not {expected_set!r}: search "
                f"it without model_set (or with {have.name!r}), or use a collection built with {expected_set!r}",
                collection=collection, model_set=have.name,
            )
        served = self.model_sets.get(have.name)
        if served is None:
            raise self.not_served(have.name, f"collection {collection!r} was built with model set {have.name!r}")
        if served.record != have:
            raise failed_precondition(
                ErrorReason.MODEL_SET_MISMATCH,
                f"collection {collection!r} was built with {describe(have)} but this server serves "
                f"{describe(served.record)}: serve the collection's model versions, or create a new "
                "collection and re-insert the images",
                collection=collection, model_set=have.name,
            )
        return served

    def not_served(self, set_name: str, what: str):
        """FAILED_PRECONDITION: a model set this server does not serve, with the fix."""
        hint = MODEL_SETS[set_name].setup_hint if set_name in MODEL_SETS else "the matching server version"
        return failed_precondition(
            ErrorReason.MODEL_SET_NOT_SERVED,
            f"{what}, which this server does not serve (it serves {', '.join(sorted(self.model_sets))}): "
            f"run `{hint}` and restart the server",
            model_set=set_name, setup=hint,
        )


def describe(record: ModelSetRecord) -> str:
    """A model set record for error messages, e.g. "offline (image: efficientnet v1 1280-d, ...)"."""
    spaces = ", ".join(
        f"{s.name or 'unnamed'}: {s.model.name} v{s.model.version} {s.model.dimension}-d" for s in record.spaces
    )
    return f"model set {record.name!r} ({spaces})"

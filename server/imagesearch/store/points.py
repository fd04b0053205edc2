"""How points are kept in Qdrant, shared by both stores and the duplicate detector: the
caller-id-to-UUID mapping, the payload layout, and the checks on ids and vectors."""

from __future__ import annotations

import uuid
from typing import Any, Mapping

import numpy as np

from imagesearch.limits import MAX_ITEM_ID_LENGTH, MAX_TOP_K
from imagesearch.store.base import ModelSetRecord, PointToStore, ScoredHit, StoredPoint
from imagesearch.ocr.grams import line_grams
from imagesearch.ocr.lines import OcrLine
from imagesearch.store.features import FEATURES_KEY, FINGERPRINT_PROBE, Feature, missing_features, stamp
from imagesearch.store.filters import FINGERPRINT_FIELD, METADATA_FIELD, NSFW_FIELD, OCR_FIELD, OCR_GRAMS_FIELD

# Caller ids are free-form strings; Qdrant wants integers or UUIDs. uuid5 under a fixed
# namespace maps each string to the same UUID forever, so no id table is needed.
ID_NAMESPACE = uuid.UUID("5b0e1f3c-7f0a-4c52-9a43-6f2d8e0c7a11")
MAX_ID_LENGTH = MAX_ITEM_ID_LENGTH
# A query's limit: the handlers ask for at most top_k plus the query item itself.
MAX_SEARCH_LIMIT = MAX_TOP_K + 1
# The payload is {ID_KEY: caller id, METADATA_KEY: caller metadata, FINGERPRINT_KEY:
# duplicate-detection data}: caller keys live one level down and can never collide with ours.
ID_KEY = "id"
METADATA_KEY = METADATA_FIELD
FINGERPRINT_KEY = FINGERPRINT_FIELD
NSFW_KEY = NSFW_FIELD  # the image's NSFW score, a float
# OCR: the lines (a list of OcrLine payloads) and their n-grams (keyword list, see ocr/grams.py).
OCR_KEY = OCR_FIELD
OCR_GRAMS_KEY = OCR_GRAMS_FIELD
# Exact duplicates are looked up by this payload path (keyword index, created on first use).
SHA256_PATH = f"{FINGERPRINT_KEY}.sha256"


def payload(point: PointToStore) -> dict[str, Any]:
    """The payload a point is stored with."""
    body: dict[str, Any] = {ID_KEY: point.id, METADATA_KEY: dict(point.metadata)}
    if point.fingerprint:
        body[FINGERPRINT_KEY] = dict(point.fingerprint)
    if point.nsfw_score is not None:
        body[NSFW_KEY] = float(point.nsfw_score)
    # Lines read (even none) make the OCR feature present; None means OCR did not run.
    extra = set(point.features) | ({Feature.OCR.value} if point.ocr_lines is not None else set())
    body[FEATURES_KEY] = stamp(bool(point.fingerprint), point.nsfw_score is not None, extra)
    if point.ocr_lines is not None:
        body[OCR_KEY] = [line.to_payload() for line in point.ocr_lines]
        grams = line_grams(point.ocr_lines)
        if grams:
            body[OCR_GRAMS_KEY] = grams
    return body


def ocr_lines(stored: dict[str, Any]) -> tuple[OcrLine, ...] | None:
    """The OCR lines of a stored payload; None when the point has no OCR record."""
    raw = stored.get(OCR_KEY)
    return None if raw is None else tuple(OcrLine.from_payload(line) for line in raw)


def scored_hit(stored: dict[str, Any], score: float, with_fingerprint: bool) -> ScoredHit:
    """A search result from a stored payload and the engine's cosine score."""
    return ScoredHit(
        id=stored[ID_KEY],
        score=clamp_score(score),
        # The engine can return a self-match a hair above 1 (1.00000095 seen); the API promises -1..1.
        similarity=max(-1.0, min(1.0, float(score))),
        metadata=stored.get(METADATA_KEY, {}),
        fingerprint=stored.get(FINGERPRINT_KEY, {}) if with_fingerprint else None,
        nsfw_score=stored.get(NSFW_KEY),
        ocr_lines=ocr_lines(stored),
    )


def stored_point(stored: dict[str, Any], vectors: dict[str, np.ndarray] | None) -> StoredPoint:
    """A point read back: its payload, and its vectors and fingerprint when they were read."""
    return StoredPoint(
        id=stored[ID_KEY],
        metadata=stored.get(METADATA_KEY, {}),
        vectors=vectors,
        fingerprint=stored.get(FINGERPRINT_KEY, {}) if vectors is not None else None,
        missing_features=missing_features(stored),
        nsfw_score=stored.get(NSFW_KEY),
        ocr_lines=ocr_lines(stored),
    )


def payload_keys(with_fingerprint: bool) -> list[str]:
    """The payload keys a read returns: fingerprints (kilobytes each) only when asked; else a
    probe of the fingerprint, enough to tell whether an item has one (features.py). OCR lines
    (a few hundred bytes per image with text) always."""
    if with_fingerprint:
        return [ID_KEY, METADATA_KEY, NSFW_KEY, OCR_KEY, FEATURES_KEY, FINGERPRINT_KEY]
    return [ID_KEY, METADATA_KEY, NSFW_KEY, OCR_KEY, FEATURES_KEY, FINGERPRINT_PROBE]


def point_uuid(point_id: str) -> str:
    """The shard id of a caller id."""
    return str(uuid.uuid5(ID_NAMESPACE, point_id))


def check_point_id(point_id: str) -> None:
    """Raise ValueError unless `point_id` is a non-empty string of at most 256 characters."""
    if not isinstance(point_id, str) or not 0 < len(point_id) <= MAX_ID_LENGTH:
        raise ValueError(f"point id must be a string of 1-{MAX_ID_LENGTH} characters")


def check_vector(vector: np.ndarray, dimension: int) -> list[float]:
    """The vector as a list of floats, or ValueError if its shape is not (dimension,)."""
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (dimension,):
        raise ValueError(f"vector has shape {array.shape}, the collection wants ({dimension},)")
    if not np.all(np.isfinite(array)):
        raise ValueError("vector has non-finite values")
    return array.tolist()


def check_model_set(model_set: ModelSetRecord) -> None:
    """ValueError unless the set has at least one space, unique names, positive dimensions."""
    names = model_set.space_names
    if not names or len(set(names)) != len(names):
        raise ValueError(f"model set {model_set.name!r} needs spaces with distinct names, got {names}")
    if any(space.model.dimension <= 0 for space in model_set.spaces):
        raise ValueError("model dimension must be positive")


def check_vectors(vectors: Mapping[str, np.ndarray], model_set: ModelSetRecord) -> dict[str, list[float]]:
    """One checked vector per space of the set, or ValueError naming what is missing or extra."""
    if set(vectors) != set(model_set.space_names):
        raise ValueError(
            f"point has vectors for spaces {sorted(vectors)}, the collection has {sorted(model_set.space_names)}"
        )
    return {space.name: check_vector(vectors[space.name], space.model.dimension) for space in model_set.spaces}


def search_space(model_set: ModelSetRecord, space: str | None) -> tuple[str, int]:
    """Name and dimension of the space a search runs in (None: the first), or ValueError."""
    record = model_set.spaces[0] if space is None else model_set.space(space)
    if record is None:
        raise ValueError(f"the collection has no vector space {space!r} (it has {list(model_set.space_names)})")
    return record.name, record.model.dimension


def clamp_score(score: float) -> float:
    """Cosine similarity mapped onto the 0..1 scale the API promises."""
    return min(max(float(score), 0.0), 1.0)



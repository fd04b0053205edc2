"""Which derived features an item was stored with, and which it lacks.

Items are stamped at insert with the features computed for them (payload key "features").
Items stored before the stamp existed (format 1) carry none: for them the features are read
from the payload keys that are there (a fingerprint, an NSFW score); OCR lines and faces did
not exist then, so they are missing. `missing_features` is what GetItem reports and what
reprocess.py fills.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Iterable, Mapping

from imagesearch.store.filters import FINGERPRINT_FIELD, NSFW_FIELD

FEATURES_KEY = "features"
# Read instead of the whole fingerprint (kilobytes) to tell whether an unstamped item has one.
FINGERPRINT_PROBE = f"{FINGERPRINT_FIELD}.sha256"


class Feature(str, Enum):
    """A feature derived from the image at insert. OCR and FACES are filled by the insert
    path that computes them (it passes them in PointToStore.features)."""

    FINGERPRINT = "fingerprint"
    NSFW = "nsfw"
    OCR = "ocr"
    FACES = "faces"


KNOWN_FEATURES: tuple[str, ...] = tuple(f.value for f in Feature)


def stamp(has_fingerprint: bool, has_nsfw: bool, extra: Iterable[str]) -> list[str]:
    """The features list stored with a new item."""
    present = set(extra)
    if has_fingerprint:
        present.add(Feature.FINGERPRINT.value)
    if has_nsfw:
        present.add(Feature.NSFW.value)
    unknown = present - set(KNOWN_FEATURES)
    if unknown:
        raise ValueError(f"unknown features {sorted(unknown)}; known: {list(KNOWN_FEATURES)}")
    return sorted(present)


def present_features(payload: Mapping[str, Any]) -> set[str]:
    """The features a stored payload has (its stamp, or for an unstamped item, its keys)."""
    stamped = payload.get(FEATURES_KEY)
    if stamped is not None:
        return set(stamped)
    present = set()
    if payload.get(FINGERPRINT_FIELD):
        present.add(Feature.FINGERPRINT.value)
    if payload.get(NSFW_FIELD) is not None:
        present.add(Feature.NSFW.value)
    return present


def missing_features(payload: Mapping[str, Any]) -> tuple[str, ...]:
    """The known features this item lacks, in KNOWN_FEATURES order."""
    present = present_features(payload)
    return tuple(f for f in KNOWN_FEATURES if f not in present)

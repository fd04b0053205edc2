"""Typed metadata filters, as the stores take them, and the payload index each key needs.

Keys are payload paths. A point's payload is {"id": caller id, METADATA_FIELD: caller
metadata, FINGERPRINT_FIELD: duplicate-detection data}; the API only ever builds paths
under METADATA_FIELD (metadata_path), so callers cannot reach the other fields. The
engines (qdrant-edge, Qdrant) evaluate the filter during the vector search.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator, Union


METADATA_FIELD = "metadata"
FINGERPRINT_FIELD = "fingerprint"
NSFW_FIELD = "nsfw"
# OCR (collections created with it): the lines read in the image (text, confidence, box),
# and their character n-grams as a keyword list the engine filters on (imagesearch.ocr.grams).
OCR_FIELD = "ocr"
OCR_GRAMS_FIELD = "ocr_grams"
# Payload indexes a collection creates on its own for caller metadata keys (indexes_to_create).
DEFAULT_MAX_FILTER_INDEXES = 32


def metadata_path(key: str) -> str:
    """The payload path of a caller's metadata key ("camera.make" -> "metadata.camera.make")."""
    return f"{METADATA_FIELD}.{key}"


class IndexType(enum.Enum):
    """The payload index a condition is served best by."""

    KEYWORD = "keyword"
    INTEGER = "integer"
    FLOAT = "float"
    DATETIME = "datetime"


@dataclass(frozen=True)
class Match:
    """The field equals `value` (for a list field: contains it).

    No booleans: qdrant-edge-py 0.9.0 turns MatchValue(True) into MatchValue(1), which
    matches no boolean payload.
    """

    key: str
    value: str | int


@dataclass(frozen=True)
class MatchAny:
    """The field equals one of `values` (all str or all int)."""

    key: str
    values: tuple[str, ...] | tuple[int, ...]


@dataclass(frozen=True)
class Range:
    """A numeric field within the given bounds (None: unbounded)."""

    key: str
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None


@dataclass(frozen=True)
class DatetimeRange:
    """A datetime field (RFC 3339 string) within the given bounds (None: unbounded)."""

    key: str
    gt: datetime | None = None
    gte: datetime | None = None
    lt: datetime | None = None
    lte: datetime | None = None


@dataclass(frozen=True)
class IsEmpty:
    """The field is missing, null or an empty list."""

    key: str


@dataclass(frozen=True)
class Exists:
    """The field is present and neither null nor an empty list."""

    key: str


@dataclass(frozen=True)
class Filter:
    """All of `must`, at least one of `should` (when given), none of `must_not`."""

    must: tuple["Condition", ...] = ()
    should: tuple["Condition", ...] = ()
    must_not: tuple["Condition", ...] = ()


Condition = Union[Match, MatchAny, Range, DatetimeRange, IsEmpty, Exists, Filter]


def index_type(condition: Condition) -> IndexType | None:
    """The payload index that lets the engine evaluate `condition` without reading payloads."""
    if isinstance(condition, Match):
        return IndexType.INTEGER if isinstance(condition.value, int) else IndexType.KEYWORD
    if isinstance(condition, MatchAny):
        return IndexType.INTEGER if condition.values and isinstance(condition.values[0], int) else IndexType.KEYWORD
    if isinstance(condition, Range):
        return IndexType.FLOAT
    if isinstance(condition, DatetimeRange):
        return IndexType.DATETIME
    return None  # emptiness checks are answered from the payload storage


def leaf_conditions(flt: Filter) -> Iterator[Condition]:
    """Every non-Filter condition of `flt`, however deeply nested."""
    for condition in (*flt.must, *flt.should, *flt.must_not):
        if isinstance(condition, Filter):
            yield from leaf_conditions(condition)
        else:
            yield condition


def wanted_indexes(flt: Filter | None) -> dict[str, IndexType]:
    """Payload path -> index type for the paths `flt` filters on (the first condition wins)."""
    wanted: dict[str, IndexType] = {}
    if flt is None:
        return wanted
    for condition in leaf_conditions(flt):
        kind = index_type(condition)
        if kind is not None:
            wanted.setdefault(condition.key, kind)
    return wanted


def indexes_to_create(
    wanted: dict[str, IndexType], indexed: set[str], limit: int
) -> tuple[dict[str, IndexType], set[str]]:
    """Of the `wanted` indexes the collection lacks, those to create now, and the paths left
    without an index because the collection already has `limit` indexes on caller metadata.

    Every filter key used to get a permanent payload index, created under the write lock:
    up to 64 per request and without bound overall (issue 10). The cap counts caller
    metadata paths only; the server's own (fingerprint.sha256, nsfw) are always created.
    Past the cap a filter still works, unindexed: the engine reads the payloads of the
    candidates, which costs query time but never correctness, and refusing the search
    would break callers over an internal optimisation.
    """
    prefix = METADATA_FIELD + "."
    caller_indexed = sum(1 for path in indexed if path.startswith(prefix))
    create: dict[str, IndexType] = {}
    skipped: set[str] = set()
    for path, kind in wanted.items():
        if path in indexed:
            continue
        if path.startswith(prefix):
            if caller_indexed >= limit:
                skipped.add(path)
                continue
            caller_indexed += 1
        create[path] = kind
    return create, skipped

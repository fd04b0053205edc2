"""Builders for metadata filters (imagesearch.v1.Filter), e.g.

    where(must=[match("color", "red"), num_range("price", lt=20)], must_not=[exists("sold")])
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from google.protobuf import timestamp_pb2

from imagesearch_client.v1 import imagesearch_pb2 as pb


def where(
    must: Iterable[pb.Condition] = (), should: Iterable[pb.Condition] = (), must_not: Iterable[pb.Condition] = ()
) -> pb.Filter:
    """A filter: all of `must`, one of `should` (when given), none of `must_not`."""
    return pb.Filter(must=list(must), should=list(should), must_not=list(must_not))


def nested(flt: pb.Filter) -> pb.Condition:
    """A filter used as one condition of another."""
    return pb.Condition(filter=flt)


def match(key: str, value: str | int) -> pb.Condition:
    """The field equals `value` (text or integer; a list field contains it)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError("match takes text or an integer; use num_range for floats")
    body = pb.MatchCondition(key=key, keyword=value) if isinstance(value, str) else pb.MatchCondition(key=key, integer=value)
    return pb.Condition(match=body)


def match_any(key: str, values: Iterable[str] | Iterable[int]) -> pb.Condition:
    """The field equals one of `values` (all text or all integers)."""
    values = list(values)
    if values and isinstance(values[0], str):
        return pb.Condition(match_any=pb.MatchAnyCondition(key=key, keywords=values))
    return pb.Condition(match_any=pb.MatchAnyCondition(key=key, integers=values))


def num_range(
    key: str, gt: float | None = None, gte: float | None = None, lt: float | None = None, lte: float | None = None
) -> pb.Condition:
    """A numeric field within the given bounds."""
    bounds = {k: v for k, v in dict(gt=gt, gte=gte, lt=lt, lte=lte).items() if v is not None}
    return pb.Condition(range=pb.NumericRangeCondition(key=key, **bounds))


def datetime_range(
    key: str,
    gt: datetime | None = None,
    gte: datetime | None = None,
    lt: datetime | None = None,
    lte: datetime | None = None,
) -> pb.Condition:
    """A datetime field (RFC 3339 text in the metadata) within the given bounds."""
    body = pb.DatetimeRangeCondition(key=key)
    for name, value in dict(gt=gt, gte=gte, lt=lt, lte=lte).items():
        if value is not None:
            stamp = timestamp_pb2.Timestamp()
            stamp.FromDatetime(value)
            getattr(body, name).CopyFrom(stamp)
    return pb.Condition(datetime_range=body)


def exists(key: str) -> pb.Condition:
    """The field is present and neither null nor an empty list."""
    return pb.Condition(exists=pb.FieldKey(key=key))


def is_empty(key: str) -> pb.Condition:
    """The field is missing, null or an empty list."""
    return pb.Condition(is_empty=pb.FieldKey(key=key))

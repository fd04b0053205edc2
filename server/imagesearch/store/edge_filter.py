"""Store filters (filters.py) as qdrant-edge conditions and payload index schemas."""

from __future__ import annotations

from datetime import datetime

import qdrant_edge as qe

from imagesearch.store import filters as f

EDGE_SCHEMAS = {
    f.IndexType.KEYWORD: qe.PayloadSchemaType.Keyword,
    f.IndexType.INTEGER: qe.PayloadSchemaType.Integer,
    f.IndexType.FLOAT: qe.PayloadSchemaType.Float,
    f.IndexType.DATETIME: qe.PayloadSchemaType.Datetime,
}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _condition(condition: f.Condition) -> object:
    if isinstance(condition, f.Filter):
        return to_edge(condition)
    key = condition.key
    if isinstance(condition, f.Match):
        return qe.FieldCondition(key, match=qe.MatchValue(condition.value))
    if isinstance(condition, f.MatchAny):
        return qe.FieldCondition(key, match=qe.MatchAny(list(condition.values)))
    if isinstance(condition, f.Range):
        return qe.FieldCondition(
            key, range=qe.RangeFloat(gt=condition.gt, gte=condition.gte, lt=condition.lt, lte=condition.lte)
        )
    if isinstance(condition, f.DatetimeRange):
        bounds = qe.RangeDateTime(
            gt=_iso(condition.gt), gte=_iso(condition.gte), lt=_iso(condition.lt), lte=_iso(condition.lte)
        )
        return qe.FieldCondition(key, range=bounds)
    if isinstance(condition, f.IsEmpty):
        return qe.IsEmptyCondition(key)
    if isinstance(condition, f.Exists):
        return qe.Filter(must_not=[qe.IsEmptyCondition(key)])
    raise TypeError(f"unsupported condition {type(condition).__name__}")


def to_edge(flt: f.Filter) -> qe.Filter:
    """`flt` as a qdrant-edge Filter."""
    return qe.Filter(
        must=[_condition(c) for c in flt.must] or None,
        should=[_condition(c) for c in flt.should] or None,
        must_not=[_condition(c) for c in flt.must_not] or None,
    )

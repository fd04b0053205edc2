"""Store filters (filters.py) as qdrant-client models and payload index schemas."""

from __future__ import annotations

from qdrant_client import models

from imagesearch.store import filters as f

REMOTE_SCHEMAS = {
    f.IndexType.KEYWORD: models.PayloadSchemaType.KEYWORD,
    f.IndexType.INTEGER: models.PayloadSchemaType.INTEGER,
    f.IndexType.FLOAT: models.PayloadSchemaType.FLOAT,
    f.IndexType.DATETIME: models.PayloadSchemaType.DATETIME,
}


def _condition(condition: f.Condition) -> models.Condition:
    if isinstance(condition, f.Filter):
        return to_remote(condition)
    key = condition.key
    if isinstance(condition, f.Match):
        return models.FieldCondition(key=key, match=models.MatchValue(value=condition.value))
    if isinstance(condition, f.MatchAny):
        return models.FieldCondition(key=key, match=models.MatchAny(any=list(condition.values)))
    if isinstance(condition, f.Range):
        return models.FieldCondition(
            key=key, range=models.Range(gt=condition.gt, gte=condition.gte, lt=condition.lt, lte=condition.lte)
        )
    if isinstance(condition, f.DatetimeRange):
        return models.FieldCondition(
            key=key,
            range=models.DatetimeRange(gt=condition.gt, gte=condition.gte, lt=condition.lt, lte=condition.lte),
        )
    if isinstance(condition, f.IsEmpty):
        return models.IsEmptyCondition(is_empty=models.PayloadField(key=key))
    if isinstance(condition, f.Exists):
        return models.Filter(must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key=key))])
    raise TypeError(f"unsupported condition {type(condition).__name__}")


def to_remote(flt: f.Filter) -> models.Filter:
    """`flt` as a qdrant-client Filter."""
    return models.Filter(
        must=[_condition(c) for c in flt.must] or None,
        should=[_condition(c) for c in flt.should] or None,
        must_not=[_condition(c) for c in flt.must_not] or None,
    )

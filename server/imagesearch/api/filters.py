"""Request filters (imagesearch.v1.Filter) checked and turned into store filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timezone

from imagesearch.api.errors import invalid
from imagesearch_client.v1 import imagesearch_pb2 as pb

from imagesearch.api.validation import METADATA_KEY_PATTERN
from imagesearch.limits import MAX_METADATA_DEPTH
from imagesearch.store import filters as f

MAX_CONDITIONS = 64
MAX_FILTER_DEPTH = 4
MAX_MATCH_ANY_VALUES = 256
MAX_KEYWORD_LENGTH = 1024
KEY_SEGMENT = METADATA_KEY_PATTERN
MAX_KEY_DEPTH = MAX_METADATA_DEPTH
# Timestamps Python's datetime can hold (years 1-9999); protobuf allows the same range, but a
# Timestamp message can carry any seconds value.
MIN_TIMESTAMP_S = -62135596800  # 0001-01-01T00:00:00Z
MAX_TIMESTAMP_S = 253402300799  # 9999-12-31T23:59:59Z


@dataclass
class _Budget:
    """Conditions left for the whole request (shared by nested filters)."""

    left: int = MAX_CONDITIONS


def metadata_key(key: str, where: str) -> str:
    """A dotted metadata path, each segment a valid metadata key."""
    segments = key.split(".")
    if not key or len(segments) > MAX_KEY_DEPTH or not all(KEY_SEGMENT.fullmatch(s) for s in segments):
        raise invalid(
            where,
            f"{where} {key[:80]!r} is not a metadata key: use 1-64 letters, digits, '_' or '-' per level, "
            f"levels joined by '.', at most {MAX_KEY_DEPTH} levels",
        )
    return key


def _bounds(condition, where: str, names=("gt", "gte", "lt", "lte")) -> dict:
    bounds = {name: getattr(condition, name) for name in names if condition.HasField(name)}
    if not bounds:
        raise invalid(where, f"{where} sets no bound: set at least one of gt, gte, lt, lte")
    return bounds


def _condition(msg: pb.Condition, where: str, depth: int, budget: _Budget) -> f.Condition:
    budget.left -= 1
    if budget.left < 0:
        raise invalid("filter", f"filter has more than {MAX_CONDITIONS} conditions")
    kind = msg.WhichOneof("condition")
    if kind is None:
        raise invalid(
            where,
            f"{where} sets no condition: set one of match, match_any, range, datetime_range, exists, is_empty, filter",
        )
    body = getattr(msg, kind)
    where = f"{where}.{kind}"
    if kind == "filter":
        return _filter(body, where, depth + 1, budget)
    key = f.metadata_path(metadata_key(body.key, f"{where}.key"))
    if kind == "match":
        value_kind = body.WhichOneof("value")
        if value_kind is None:
            raise invalid(where, f"{where} sets no value: set keyword or integer")
        value = getattr(body, value_kind)
        if value_kind == "keyword" and len(value) > MAX_KEYWORD_LENGTH:
            raise invalid(where, f"{where}.keyword is longer than {MAX_KEYWORD_LENGTH} characters")
        return f.Match(key, value)
    if kind == "match_any":
        if bool(body.keywords) == bool(body.integers):
            raise invalid(where, f"{where} must set either keywords or integers (not both, not neither)")
        values = tuple(body.keywords) or tuple(body.integers)
        if len(values) > MAX_MATCH_ANY_VALUES:
            raise invalid(where, f"{where} has {len(values)} values; the limit is {MAX_MATCH_ANY_VALUES}")
        if any(isinstance(v, str) and len(v) > MAX_KEYWORD_LENGTH for v in values):
            raise invalid(where, f"{where} has a keyword longer than {MAX_KEYWORD_LENGTH} characters")
        return f.MatchAny(key, values)
    if kind == "range":
        bounds = _bounds(body, where)
        if any(v != v or v in (float("inf"), float("-inf")) for v in bounds.values()):
            raise invalid(where, f"{where} bounds must be finite numbers")
        return f.Range(key, **bounds)
    if kind == "datetime_range":
        bounds = _bounds(body, where)
        for name, ts in bounds.items():
            if not (MIN_TIMESTAMP_S <= ts.seconds <= MAX_TIMESTAMP_S and 0 <= ts.nanos < 1_000_000_000):
                raise invalid(f"{where}.{name}", f"{where}.{name} must lie in years 1-9999 (seconds {ts.seconds})")
        return f.DatetimeRange(key, **{name: ts.ToDatetime(tzinfo=timezone.utc) for name, ts in bounds.items()})
    if kind == "exists":
        return f.Exists(key)
    return f.IsEmpty(key)


def _filter(msg: pb.Filter, where: str, depth: int, budget: _Budget) -> f.Filter:
    if depth > MAX_FILTER_DEPTH:
        raise invalid(where, f"filters are nested more than {MAX_FILTER_DEPTH} deep")

    def group(name: str) -> tuple[f.Condition, ...]:
        return tuple(_condition(c, f"{where}.{name}[{i}]", depth, budget) for i, c in enumerate(getattr(msg, name)))

    return f.Filter(must=group("must"), should=group("should"), must_not=group("must_not"))


def request_filter(request, field_name: str = "filter") -> f.Filter | None:
    """The request's filter as a store Filter; None when unset or empty."""
    if not request.HasField(field_name):
        return None
    flt = _filter(getattr(request, field_name), field_name, 1, _Budget())
    if not (flt.must or flt.should or flt.must_not):
        return None
    return flt


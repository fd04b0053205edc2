"""Resource names and messages of the admin API (admin.proto): snapshots
"collections/{collection}/snapshots/{snapshot}", aliases "aliases/{alias}", API keys
"apiKeys/{api_key}"; parsing (INVALID_ARGUMENT naming the field) and store -> message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import unquote

from google.protobuf import timestamp_pb2
from imagesearch_client import names
from imagesearch_client.v1 import admin_pb2 as apb
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api import validation
from imagesearch.api.errors import invalid
from imagesearch.auth.keys import ApiKey
from imagesearch.store.base import ALL_COLLECTIONS, Alias, SnapshotInfo

ALIASES = "aliases"
API_KEYS = "apiKeys"
SNAPSHOTS = "snapshots"


@dataclass(frozen=True)
class SnapshotName:
    collection: str  # a collection ID, or ALL_COLLECTIONS
    snapshot: str


def snapshot_parent(parent: str, field: str = "parent") -> str | None:
    """The collection of "collections/{collection}"; None for "collections/-" (all)."""
    if parent == f"{names.COLLECTIONS}/{ALL_COLLECTIONS}":
        return None
    return validation.collection_of(parent, field)


def snapshot_name(name: str, field: str = "name") -> SnapshotName:
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != names.COLLECTIONS or parts[2] != SNAPSHOTS or not parts[3]:
        raise invalid(field, f"{name[:120]!r} is not a snapshot name: expected "
                      "'collections/{collection}/snapshots/{snapshot}'", ErrorReason.RESOURCE_NAME_INVALID)
    collection = parts[1] if parts[1] == ALL_COLLECTIONS else validation.collection_id(parts[1], field)
    return SnapshotName(collection, unquote(parts[3]))


def _single(prefix: str, name: str, field: str) -> str:
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != prefix or not parts[1]:
        raise invalid(field, f"{name[:120]!r} is not a name of the form '{prefix}/{{id}}'",
                      ErrorReason.RESOURCE_NAME_INVALID)
    return unquote(parts[1])


def alias_of(name: str, field: str = "name") -> str:
    return validation.collection_id(_single(ALIASES, name, field), field)


def api_key_of(name: str, field: str = "name") -> str:
    return _single(API_KEYS, name, field)


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def snapshot(info: SnapshotInfo) -> apb.Snapshot:
    return apb.Snapshot(
        name=f"{names.COLLECTIONS}/{info.collection}/{SNAPSHOTS}/{names.encode_id(info.name)}",
        create_time=timestamp(info.created_at), size_bytes=info.size_bytes, checksum=info.checksum,
        item_count=info.item_count, model_sets=list(info.model_sets), location=info.location,
    )


def alias(value: Alias) -> apb.Alias:
    return apb.Alias(name=f"{ALIASES}/{value.name}", collection=names.collection_name(value.collection))


def api_key(key: ApiKey, last_used: datetime | None = None) -> apb.ApiKey:
    message = apb.ApiKey(
        name=f"{API_KEYS}/{names.encode_id(key.name)}", roles=[str(g) for g in key.grants],
        create_time=timestamp(key.created.timestamp()),
    )
    if key.expires is not None:
        message.expire_time.CopyFrom(timestamp(key.expires.timestamp()))
    if last_used is not None:
        message.last_use_time.CopyFrom(timestamp(last_used.timestamp()))
    return message


def paged(items: list, key, page_size: int, page_token: str, *digest_parts: object) -> tuple[list, str]:
    """One page of `items` (sorted by `key`, a function giving a JSON-able list) after the
    token's cursor, and the next token ("" on the last page). The cursor is the last key,
    not a count, so a page never repeats a resource while others are added or deleted."""
    import json

    from imagesearch.api import pages

    size = validation.page_size(page_size)
    digest = pages.request_digest(*digest_parts)
    cursor = pages.decode(page_token, digest)
    after = json.loads(cursor) if cursor is not None else None
    rest = [i for i in items if after is None or key(i) > after]
    page = rest[:size]
    token = pages.encode(json.dumps(key(page[-1])), digest) if len(rest) > size else ""
    return page, token

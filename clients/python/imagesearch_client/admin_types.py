"""Plain results of the administration calls (admin.proto), as the clients return them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from imagesearch_client.v1 import admin_pb2 as apb


def _when(message, field: str) -> datetime | None:
    if not message.HasField(field):
        return None
    return getattr(message, field).ToDatetime(timezone.utc)


@dataclass(frozen=True)
class Snapshot:
    """A snapshot file: `collection` is "-" for a snapshot of every collection."""

    name: str  # resource name, "collections/{collection}/snapshots/{snapshot}"
    collection: str
    snapshot_id: str
    create_time: datetime | None
    size_bytes: int
    checksum: str
    item_count: int | None
    model_sets: tuple[str, ...]
    location: str

    @classmethod
    def from_proto(cls, msg: apb.Snapshot) -> "Snapshot":
        from urllib.parse import unquote

        _, collection, _, snapshot_id = msg.name.split("/")
        return cls(msg.name, collection, unquote(snapshot_id), _when(msg, "create_time"), msg.size_bytes,
                   msg.checksum, msg.item_count if msg.HasField("item_count") else None, tuple(msg.model_sets),
                   msg.location)


@dataclass(frozen=True)
class Alias:
    alias_id: str
    collection: str  # collection ID

    @classmethod
    def from_proto(cls, msg: apb.Alias) -> "Alias":
        return cls(msg.name.split("/", 1)[1], msg.collection.split("/", 1)[1])


@dataclass(frozen=True)
class ApiKey:
    """An API key's description (never the key)."""

    key_id: str
    roles: tuple[str, ...]
    create_time: datetime | None
    expire_time: datetime | None
    last_use_time: datetime | None

    @classmethod
    def from_proto(cls, msg: apb.ApiKey) -> "ApiKey":
        from urllib.parse import unquote

        return cls(unquote(msg.name.split("/", 1)[1]), tuple(msg.roles), _when(msg, "create_time"),
                   _when(msg, "expire_time"), _when(msg, "last_use_time"))


@dataclass(frozen=True)
class CreatedApiKey:
    """CreateApiKey's answer: `key` is the secret, shown only this once."""

    api_key: ApiKey
    key: str


@dataclass(frozen=True)
class ReprocessProgress:
    """One ReprocessCollection message; the last has finished=True and the counts."""

    done: int
    total: int
    finished: bool = False
    processed: int = 0
    skipped: int = 0
    removed: int = 0
    no_original: tuple[str, ...] = ()
    target: str = ""  # collection ID written

    @classmethod
    def from_proto(cls, msg: apb.ReprocessCollectionResponse) -> "ReprocessProgress":
        return cls(msg.done_count, msg.total_count, msg.finished, msg.processed_count, msg.skipped_count,
                   msg.removed_count, tuple(msg.no_original_item_ids), msg.target.split("/", 1)[-1])


REPROCESS_MODES = {"fill": apb.REPROCESS_MODE_FILL, "reembed": apb.REPROCESS_MODE_REEMBED}


def reprocess_request(collection: str, mode: str, target: str, model_set: str) -> apb.ReprocessCollectionRequest:
    from imagesearch_client.names import collection_name

    if mode not in REPROCESS_MODES:
        raise ValueError(f"mode must be one of {sorted(REPROCESS_MODES)}, not {mode!r}")
    return apb.ReprocessCollectionRequest(name=collection_name(collection), mode=REPROCESS_MODES[mode],
                                          target_collection_id=target, target_model_set=model_set)


def api_key_request(key_id: str, roles: list[str], expire_time: datetime | None) -> apb.CreateApiKeyRequest:
    key = apb.ApiKey(roles=roles)
    if expire_time is not None:
        key.expire_time.FromDatetime(expire_time.astimezone(timezone.utc))
    return apb.CreateApiKeyRequest(api_key_id=key_id, api_key=key)


def snapshot_name(collection: str | None, snapshot: str) -> str:
    from imagesearch_client.names import encode_id

    return f"collections/{collection or '-'}/snapshots/{encode_id(snapshot)}"

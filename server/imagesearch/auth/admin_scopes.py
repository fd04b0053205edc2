"""Which collections an administration request (admin.proto) acts on, for the role check.

A request may name several (an alias and its collection; a snapshot and the collection it
is restored as): the key needs `admin` on each. "*" stands for the whole server (every
collection: API keys, uploads whose content is unknown until read, snapshots of
"collections/-", every alias). An unparsable name yields "" (only a '*' grant covers it;
the handler then answers INVALID_ARGUMENT).
"""

from __future__ import annotations

import re
from typing import Any

EVERYTHING = "*"
_COLLECTION = re.compile(r"^collections/([^/]+)")
_ALIAS = re.compile(r"^aliases/([^/]+)$")


def _collection(name: str) -> str:
    match = _COLLECTION.match(name)
    if not match:
        return ""
    return EVERYTHING if match.group(1) == "-" else match.group(1)


def _alias(name: str) -> str:
    match = _ALIAS.match(name)
    return match.group(1) if match else ""


def admin_scope(request: Any) -> tuple[str, ...] | None:
    """The collections `request` needs admin on; None when it is not an admin request."""
    kind = request.DESCRIPTOR.full_name.removeprefix("imagesearch.v1.")
    if kind in ("CreateSnapshotRequest", "ListSnapshotsRequest"):
        return (_collection(request.parent),)
    if kind in ("GetSnapshotRequest", "DeleteSnapshotRequest", "DownloadSnapshotRequest"):
        return (_collection(request.name),)
    if kind == "RestoreSnapshotRequest":
        return (_collection(request.name), *((request.collection_id,) if request.collection_id else ()))
    if kind == "CreateAliasRequest":
        return (request.alias_id, _collection(request.alias.collection))
    if kind in ("GetAliasRequest", "DeleteAliasRequest"):
        return (_alias(request.name),)
    if kind == "UpdateAliasRequest":
        return (_alias(request.alias.name), _collection(request.alias.collection))
    if kind == "ListAliasesRequest":
        return (_collection(request.collection) if request.collection else EVERYTHING,)
    if kind == "ReprocessCollectionRequest":
        return (_collection(request.name), *((request.target_collection_id,) if request.target_collection_id else ()))
    if kind in ("UploadSnapshotRequest", "CreateApiKeyRequest", "GetApiKeyRequest", "ListApiKeysRequest",
                "DeleteApiKeyRequest"):
        return (EVERYTHING,)
    return None

"""The audit log (docs/security.md, "Audit"): one line per call that changes state, once it
ended, on the `imagesearch.audit` logger: the method, the resource it named, the outcome
(a status code name), the key's name and id (never the key) and the peer. Refused calls
(no key, wrong role, quota) are logged too: they are what an audit is read for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, AsyncIterator

import grpc

from imagesearch.auth.calls import CallRecord
from imagesearch.auth.keys import ApiKey

log = logging.getLogger("imagesearch.audit")

# Method names (AIP standard and custom methods) that change state; a method of any
# service whose name starts with one of these is audited, so RPCs added later are too.
MUTATING_VERBS = (
    "Create", "Update", "Delete", "BatchCreate", "BatchUpdate", "BatchDelete", "Import", "Purge", "Revoke", "Merge",
    "Move", "Rename", "Set", "Undelete", "Restore", "Recluster",
)


def mutating(method_name: str) -> bool:
    """True when the RPC named `method_name` (e.g. "DeleteCollection") changes state."""
    return method_name.startswith(MUTATING_VERBS)


def request_resource(request: Any) -> str:
    """The resource a request names: `name`, else `parent`, else the collection it creates."""
    if request is None:
        return "-"
    fields = {f.name for f in request.DESCRIPTOR.fields}
    if "request" in fields:  # ImportItemsRequest wraps a CreateItemRequest
        return request_resource(request.request)
    for name in ("name", "parent"):
        if name in fields and getattr(request, name):
            return getattr(request, name)
    if "collection_id" in fields:
        return f"collections/{request.collection_id}"
    return "-"


def _outcome(context: grpc.aio.ServicerContext, failed: bool) -> str:
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code.name
    if isinstance(code, int):
        return next((c.name for c in grpc.StatusCode if c.value[0] == code), str(code))
    return "UNKNOWN" if failed else "OK"


class AuditLog:
    """Makes the scope (imagesearch.auth.calls) that writes one call's line."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self.logger = logger

    def scope(self, method: str, key: ApiKey | None):
        @contextlib.asynccontextmanager
        async def audited(context: grpc.aio.ServicerContext, record: CallRecord) -> AsyncIterator[None]:
            outcome = ""
            try:
                yield
            except asyncio.CancelledError:
                outcome = "CANCELLED"
                raise
            except BaseException:
                outcome = _outcome(context, failed=True)
                raise
            finally:
                self.write(method, record, outcome or _outcome(context, failed=False), key, context.peer())
        return audited

    def write(self, method: str, record: CallRecord, outcome: str, key: ApiKey | None, peer: str) -> None:
        self.logger.info(
            "audit method=%s resource=%s requests=%d outcome=%s key=%s key_id=%s peer=%s",
            # JSON-quoted: a request's name is the caller's text, and may hold a newline.
            method, json.dumps(request_resource(record.first)), record.count, outcome,
            key.name if key else "-", key.key_id if key else "-", peer,
        )

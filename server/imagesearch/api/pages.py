"""Opaque page tokens (AIP-158).

A token holds where the next page starts (a collection ID, or the store's next point id)
and a digest of the request's other parameters, so a token is refused when it is replayed
with another collection or filter. Both cursors are positions in a stable order, not
counts, so pages never repeat an item while items are added or deleted.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api.errors import invalid

TOKEN_VERSION = 1


def request_digest(*parts: Any) -> str:
    """A short digest of what must stay the same from page to page."""
    raw = json.dumps([p if isinstance(p, (str, int, type(None))) else repr(p) for p in parts])
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode(cursor: str, digest: str) -> str:
    """The token for a page starting at `cursor`."""
    body = json.dumps({"v": TOKEN_VERSION, "c": cursor, "d": digest}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def decode(token: str, digest: str, field: str = "page_token") -> str | None:
    """The cursor of `token` (None for an empty token); PAGE_TOKEN_INVALID when it was not
    issued by this server for a request with the same parameters."""
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor, token_digest, version = body["c"], body["d"], body["v"]
    except (ValueError, KeyError, TypeError):
        raise invalid(field, f"{field} is not a token this server issued: pass a next_page_token unchanged",
                      ErrorReason.PAGE_TOKEN_INVALID) from None
    if version != TOKEN_VERSION or not isinstance(cursor, str) or token_digest != digest:
        raise invalid(field, f"{field} belongs to another request: keep the collection and filter the same on "
                      "every page, or start again without a token", ErrorReason.PAGE_TOKEN_INVALID)
    return cursor

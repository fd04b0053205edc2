"""Resource names of the v1 API (AIP-122): "collections/{collection}" and
"collections/{collection}/items/{item}", the item ID percent-encoded (RFC 3986: every byte
of its UTF-8 form outside A-Z a-z 0-9 '-' '.' '_' '~' becomes %XX), so IDs may hold '/'.

The server parses names with these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, unquote

COLLECTIONS = "collections"
ITEMS = "items"


class InvalidName(ValueError):
    """A string that is not a resource name of the expected kind."""


@dataclass(frozen=True)
class ItemName:
    """A parsed item name."""

    collection_id: str
    item_id: str

    def __str__(self) -> str:
        return item_name(self.collection_id, self.item_id)


def encode_id(resource_id: str) -> str:
    """The ID as a name segment: percent-encoded, '/' included."""
    return quote(resource_id, safe="")


def collection_name(collection: str) -> str:
    """"collections/{collection}" for an ID; a name is returned unchanged."""
    return collection if collection.startswith(f"{COLLECTIONS}/") else f"{COLLECTIONS}/{collection}"


def item_name(collection: str, item_id: str) -> str:
    """"collections/{collection}/items/{encoded item_id}"; `collection` is an ID or a name."""
    return f"{collection_name(collection)}/{ITEMS}/{encode_id(item_id)}"


def parse_collection_name(name: str) -> str:
    """The collection ID of "collections/{collection}"; InvalidName otherwise."""
    parts = name.split("/")
    if len(parts) != 2 or parts[0] != COLLECTIONS or not parts[1]:
        raise InvalidName(f"{name[:120]!r} is not a collection name: expected 'collections/{{collection}}'")
    return parts[1]


def parse_item_name(name: str) -> ItemName:
    """The collection and item IDs of an item name; InvalidName otherwise."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != COLLECTIONS or parts[2] != ITEMS or not parts[1] or not parts[3]:
        raise InvalidName(
            f"{name[:120]!r} is not an item name: expected 'collections/{{collection}}/items/{{item}}' "
            "with the item ID percent-encoded ('/' as %2F)"
        )
    try:
        item_id = unquote(parts[3], errors="strict")
    except UnicodeDecodeError:
        raise InvalidName(f"the item ID in {name[:120]!r} is not percent-encoded UTF-8") from None
    return ItemName(parts[1], item_id)

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


# People and faces of collections created with faces_enabled (docs/faces.md):
# "collections/{collection}/people/{person}" and
# "collections/{collection}/items/{item}/faces/{face}" (the face's position in its image).
PEOPLE = "people"
FACES = "faces"


@dataclass(frozen=True)
class PersonName:
    """A parsed person name."""

    collection_id: str
    person_id: str

    def __str__(self) -> str:
        return person_name(self.collection_id, self.person_id)


@dataclass(frozen=True)
class FaceName:
    """A parsed face name: the item and the face's position in its image (from 0)."""

    collection_id: str
    item_id: str
    index: int

    def __str__(self) -> str:
        return face_name(self.collection_id, self.item_id, self.index)


def person_name(collection: str, person_id: str) -> str:
    """"collections/{collection}/people/{person}"; a person name is returned unchanged."""
    if person_id.startswith(f"{COLLECTIONS}/"):
        return person_id
    return f"{collection_name(collection)}/{PEOPLE}/{encode_id(person_id)}"


def face_name(collection: str, item_id: str, index: int) -> str:
    """"collections/{collection}/items/{encoded item_id}/faces/{index}"."""
    return f"{item_name(collection, item_id)}/{FACES}/{index}"


def parse_person_name(name: str) -> PersonName:
    """The collection and person IDs of a person name; InvalidName otherwise."""
    parts = name.split("/")
    if len(parts) != 4 or parts[0] != COLLECTIONS or parts[2] != PEOPLE or not parts[1] or not parts[3]:
        raise InvalidName(
            f"{name[:120]!r} is not a person name: expected 'collections/{{collection}}/people/{{person}}' "
            "(ListPeople gives them)"
        )
    return PersonName(parts[1], unquote(parts[3]))


def parse_face_name(name: str) -> FaceName:
    """The collection, item and position of a face name; InvalidName otherwise."""
    head, sep, index = name.rpartition(f"/{FACES}/")
    if not sep or not (index.isascii() and index.isdigit()) or (len(index) > 1 and index.startswith("0")):
        raise InvalidName(
            f"{name[:120]!r} is not a face name: expected 'collections/{{collection}}/items/{{item}}/faces/{{face}}' "
            "with the face's position in its image (0, 1, ...)"
        )
    item = parse_item_name(head)
    return FaceName(item.collection_id, item.item_id, int(index))

"""Roles on collection patterns, and which role each RPC needs.

A grant is `ROLE:PATTERN`: ROLE is read, write or admin; PATTERN is an exact collection ID
(`photos`), a prefix ending in `*` (`tenant-a-*`), or `*` for every collection. Roles do
not imply each other: a key that should read and write holds both grants.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(str, enum.Enum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


class InvalidGrant(ValueError):
    """A grant that is not ROLE:PATTERN with a known role."""


@dataclass(frozen=True)
class Grant:
    role: Role
    pattern: str

    @classmethod
    def parse(cls, text: str) -> "Grant":
        role, sep, pattern = text.partition(":")
        if not sep or not pattern or role not in {r.value for r in Role}:
            raise InvalidGrant(f"grant {text!r} is not ROLE:PATTERN with ROLE read, write or admin")
        if "*" in pattern[:-1]:
            raise InvalidGrant(f"grant {text!r}: '*' may only end the pattern")
        return cls(Role(role), pattern)

    def __str__(self) -> str:
        return f"{self.role.value}:{self.pattern}"

    def covers(self, role: Role, collection: str | None) -> bool:
        """True when this grant gives `role` on `collection` (None: on any collection at all)."""
        if role is not self.role:
            return False
        if collection is None:
            return True
        if self.pattern.endswith("*"):
            return collection.startswith(self.pattern[:-1])
        return collection == self.pattern


def allows(grants: tuple[Grant, ...], role: Role, collection: str | None) -> bool:
    return any(g.covers(role, collection) for g in grants)


SERVICE = "/imagesearch.v1.ImageSearchService/"
# The role each RPC needs on the collection its request names. The stateless image RPCs
# name none: they need `read` on some collection (collection None), so that a key is
# needed to spend the server's GPU time.
METHOD_ROLES: dict[str, Role] = {
    **{m: Role.READ for m in (
        "GetCollection", "ListCollections", "GetItem", "ListItems", "BatchGetItems", "CountItems", "SearchItems",
        "DetectFaces", "ReadImageText", "ModerateImage",
        "ListPeople", "GetPerson",
    )},
    **{m: Role.WRITE for m in (
        "CreateItem", "ImportItems", "UpdateItem", "DeleteItem", "BatchDeleteItems", "PurgeItems",
        "UpdatePerson", "MergePeople", "DeletePerson", "UpdateFace", "ReclusterPeople",
    )},
    **{m: Role.ADMIN for m in (
        "CreateCollection", "UpdateCollection", "DeleteCollection", "FindDuplicates",
    )},
}

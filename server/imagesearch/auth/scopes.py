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
        """True when this grant gives `role` on `collection`. None: an RPC that names no
        collection; `read` on any collection covers it (the stateless image RPCs), `admin`
        only on every collection (`*`: key management, server-wide operations), so a
        tenant's admin cannot mint itself a key beyond its prefix."""
        if role is not self.role:
            return False
        if collection is None:
            return role is not Role.ADMIN or self.pattern == "*"
        if self.pattern.endswith("*"):
            return collection.startswith(self.pattern[:-1])
        return collection == self.pattern


def allows(grants: tuple[Grant, ...], role: Role, collection: str | None) -> bool:
    return any(g.covers(role, collection) for g in grants)


SERVICE = "/imagesearch.v1.ImageSearchService/"
# Every service of this server lives in the imagesearch package (gRPC method paths are
# "/package.Service/Method"): the interceptor guards all of them, an RPC without a row below
# needing admin on every collection.
SERVICE_PACKAGE = "/imagesearch."
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

ADMIN_SERVICE = "/imagesearch.v1.ImageSearchAdminService/"
# Every administration RPC needs `admin`: on the collection(s) the request names
# (auth/admin_scopes.py says which), on "*" for API keys, uploads and whole-server snapshots.
ADMIN_METHOD_ROLES: dict[str, Role] = {
    m: Role.ADMIN for m in (
        "CreateSnapshot", "ListSnapshots", "GetSnapshot", "DeleteSnapshot", "RestoreSnapshot", "DownloadSnapshot",
        "UploadSnapshot", "CreateAlias", "GetAlias", "ListAliases", "UpdateAlias", "DeleteAlias",
        "ReprocessCollection", "CreateApiKey", "GetApiKey", "ListApiKeys", "DeleteApiKey",
    )
}
# The RPCs whose requests name no collection. Any other RPC whose request names none (a
# new message shape) is checked as if it named "", which only `*` grants cover.
COLLECTIONLESS = frozenset({"ListCollections", "DetectFaces", "ReadImageText", "ModerateImage"})

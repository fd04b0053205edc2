"""People handlers: the standard methods on "collections/{c}/people/{person}", MergePeople,
ReclusterPeople, and UpdateFace (moving a face to another person), over
imagesearch.faces.manager.FaceManager (docs/faces.md).

Every call needs a collection created with faces_enabled (FAILED_PRECONDITION,
FACES_NOT_ENABLED, naming the fix, otherwise); unknown people and faces are NOT_FOUND
(PERSON_NOT_FOUND, FACE_NOT_FOUND).
"""

from __future__ import annotations

from typing import AsyncIterator

from google.protobuf import empty_pb2
from imagesearch_client import names
from imagesearch_client.v1 import imagesearch_pb2 as pb

from imagesearch.api import convert, pages, validation
from imagesearch.api.context import ServiceContext
from imagesearch.api.errors import as_api_error, invalid, unary_errors
from imagesearch.faces.errors import FaceNotFound
from imagesearch.faces.manager import FaceManager
from imagesearch.faces.people_edits import PersonInfo
from imagesearch.faces.people import PersonSummary
from imagesearch.faces.search import ItemMatch
from imagesearch.limits import MAX_PEOPLE_PER_MERGE, MAX_PERSON_NAME_CHARS
from imagesearch.store.faces import StoredFace, face_id

PERSON_FIELDS = ("display_name",)
FACE_FIELDS = ("person",)


class PeopleHandlers:
    """ListPeople, GetPerson, UpdatePerson, MergePeople, DeletePerson, UpdateFace, ReclusterPeople."""

    ctx: ServiceContext

    async def _faces(self, collection: str) -> tuple[FaceManager, str]:
        """The face manager and the collection's resolved name (aliases), or FACES_NOT_ENABLED."""
        faces = await self.ctx.faces_of(collection)
        return faces, await self.ctx.store.resolve(collection)

    @unary_errors
    async def ListPeople(self, request: pb.ListPeopleRequest, context) -> pb.ListPeopleResponse:
        collection = validation.collection_of(request.parent)
        size = validation.page_size(request.page_size)
        min_faces = min_face_count(request)
        faces, resolved = await self._faces(collection)
        digest = pages.request_digest("people", collection, min_faces)
        after = pages.decode(request.page_token, digest)
        listed = await faces.people_summaries(resolved, min_faces)
        if after is not None:
            listed = [p for p in listed if _order(p) > _cursor_order(after)]
        page = listed[:size]
        token = pages.encode(f"{page[-1].face_count}:{page[-1].id}", digest) if len(listed) > size else ""
        people = await faces.describe_people(resolved, page)
        return pb.ListPeopleResponse(people=[person(collection, p) for p in people], next_page_token=token)

    @unary_errors
    async def GetPerson(self, request: pb.GetPersonRequest, context) -> pb.Person:
        name = _person_of(request.name, "name")
        faces, resolved = await self._faces(name.collection_id)
        return person(name.collection_id, await faces.person(resolved, name.person_id))

    @unary_errors
    async def UpdatePerson(self, request: pb.UpdatePersonRequest, context) -> pb.Person:
        name = _person_of(request.person.name, "person.name")
        _check_mask(request.update_mask.paths, PERSON_FIELDS)
        display_name = person_display_name(request.person.display_name)
        faces, resolved = await self._faces(name.collection_id)
        return person(name.collection_id, await faces.name_person(resolved, name.person_id, display_name))

    @unary_errors
    async def MergePeople(self, request: pb.MergePeopleRequest, context) -> pb.Person:
        keep = _person_of(request.name, "name")
        if not 1 <= len(request.people) <= MAX_PEOPLE_PER_MERGE:
            raise invalid("people", f"people names {len(request.people)} people; give 1-{MAX_PEOPLE_PER_MERGE} "
                          "people to merge into the named one", limit=MAX_PEOPLE_PER_MERGE)
        others = [_person_of(p, f"people[{i}]") for i, p in enumerate(request.people)]
        others = list(dict.fromkeys(o for o in others if o != keep))  # repeats and the kept one: nothing to do
        for i, other in enumerate(others):
            if other.collection_id != keep.collection_id:
                raise invalid(f"people[{i}]", f"{request.people[i][:120]!r} is not in collection "
                              f"{keep.collection_id!r}: people of one collection only can be merged")
        faces, resolved = await self._faces(keep.collection_id)
        await faces.person(resolved, keep.person_id)  # PERSON_NOT_FOUND before anything moves
        for other in others:
            await faces.person(resolved, other.person_id)
        for other in others:
            await faces.merge_people(resolved, keep.person_id, other.person_id)
        return person(keep.collection_id, await faces.person(resolved, keep.person_id))

    @unary_errors
    async def DeletePerson(self, request: pb.DeletePersonRequest, context) -> empty_pb2.Empty:
        name = _person_of(request.name, "name")
        faces, resolved = await self._faces(name.collection_id)
        await faces.delete_person(resolved, name.person_id)
        return empty_pb2.Empty()

    @unary_errors
    async def UpdateFace(self, request: pb.UpdateFaceRequest, context) -> pb.Face:
        try:
            parsed = names.parse_face_name(request.face.name)
        except names.InvalidName as exc:
            raise as_api_error(exc, "face.name") from None
        _check_mask(request.update_mask.paths, FACE_FIELDS)
        target = None
        if request.face.person:
            target = _person_of(request.face.person, "face.person")
            if target.collection_id != parsed.collection_id:
                raise invalid("face.person", f"{request.face.person[:120]!r} is not in collection "
                              f"{parsed.collection_id!r}: a face moves to a person of its own collection")
        faces, resolved = await self._faces(parsed.collection_id)
        internal = face_id(parsed.item_id, parsed.index)
        try:
            await faces.face(resolved, internal)
        except FaceNotFound:
            raise FaceNotFound(f"no face {request.face.name[:200]!r}: GetPerson and search hits name stored faces",
                               request.face.name) from None
        await faces.move_face(resolved, internal, target.person_id if target else None)
        return face(parsed.collection_id, await faces.face(resolved, internal))

    @unary_errors
    async def ReclusterPeople(self, request: pb.ReclusterPeopleRequest, context) -> pb.ReclusterPeopleResponse:
        collection = validation.collection_of(request.parent)
        faces, resolved = await self._faces(collection)
        report = await faces.recluster(resolved)
        return pb.ReclusterPeopleResponse(
            face_count=report.faces, person_count=report.people, changed_face_count=report.changed
        )


async def person_hits(
    ctx: ServiceContext, collection: str, request: pb.SearchItemsRequest, limit: int, flt: object | None
) -> AsyncIterator[pb.SearchItemsResponse]:
    """SearchItems with a `person` query: the items showing that person, best first."""
    name = _person_of(request.person, "person")
    if name.collection_id != collection:
        raise invalid("person", f"{request.person[:120]!r} is not in {request.parent!r}: search its own collection")
    if flt is not None:
        raise invalid("filter", "person queries take no filter or max_nsfw_score yet: search without them")
    threshold = validation.min_score(request) if request.HasField("min_score") else 0.0
    faces = await ctx.faces_of(collection)
    matches = await faces.search_person(await ctx.store.resolve(collection), name.person_id, limit)
    matches = [m for m in matches if m.score >= threshold]
    found = {p.id: p for p in await ctx.store.get(collection, [m.item_id for m in matches])}
    rank = 0
    for match in matches:
        if match.item_id not in found:
            continue  # deleted since its faces were read
        rank += 1
        yield pb.SearchItemsResponse(item=convert.item(collection, found[match.item_id]), score=match.score,
                                     similarity=match.score, rank=rank, face=face_match(collection, match))


def face_match(collection: str, match: ItemMatch, query_index: int | None = None) -> pb.FaceMatch:
    """The matching face of a face or person hit: its box, name and person."""
    index = int(match.face_id.split(":", 1)[0])  # store ids are "<n>:<item id>"
    return pb.FaceMatch(
        box=convert.box(match.box), query_face_index=query_index or 0,
        face=names.face_name(collection, match.item_id, index),
        person=names.person_name(collection, match.person_id) if match.person_id else "",
    )


# --- requests ---------------------------------------------------------------------------


def min_face_count(request: pb.ListPeopleRequest) -> int | None:
    """ListPeople's min_face_count: >= 1, or None (the server's faces_min_listed)."""
    if not request.HasField("min_face_count"):
        return None
    if request.min_face_count < 1:
        raise invalid("min_face_count", f"min_face_count must be at least 1 (or unset for the server's default), "
                      f"got {request.min_face_count}")
    return request.min_face_count


def person_display_name(value: str, field: str = "person.display_name") -> str:
    """A person's display name: 0-100 printable characters, not only spaces ("" unnames)."""
    if len(value) > MAX_PERSON_NAME_CHARS:
        raise invalid(field, f"{field} is {len(value)} characters long; the limit is {MAX_PERSON_NAME_CHARS}",
                      limit=MAX_PERSON_NAME_CHARS)
    if value and not value.strip():
        raise invalid(field, f"{field} is only spaces: give a name, or an empty string to unname the person")
    if not value.isprintable():
        raise invalid(field, f"{field} holds control characters (e.g. a newline): give one line of printable text")
    return value.strip()


def _person_of(name: str, field: str) -> names.PersonName:
    try:
        return names.parse_person_name(name)
    except names.InvalidName as exc:
        raise as_api_error(exc, field) from None


def _check_mask(paths, allowed: tuple[str, ...]) -> None:
    unknown = set(paths) - {"*", *allowed}
    if unknown:
        raise invalid("update_mask", f"update_mask names {sorted(unknown)}, which cannot change: only "
                      f"{', '.join(allowed)} can")


def _order(summary: PersonSummary) -> tuple[int, str]:
    return (-summary.face_count, summary.id)


def _cursor_order(cursor: str) -> tuple[int, str]:
    count, _, person_id = cursor.partition(":")
    return (-int(count), person_id)


# --- responses --------------------------------------------------------------------------


def person(collection: str, info: PersonInfo) -> pb.Person:
    """A person as the API resource."""
    return pb.Person(
        name=names.person_name(collection, info.id), display_name=info.name, face_count=info.face_count,
        representative_face=face(collection, info.representative),
    )


def face(collection: str, stored: StoredFace) -> pb.Face:
    """A stored face as the API resource."""
    assignment = stored.assignment
    return pb.Face(
        name=names.face_name(collection, stored.item_id, stored.index),
        item=names.item_name(collection, stored.item_id), box=convert.box(stored.box),
        person=names.person_name(collection, assignment.person_id) if assignment else "",
        pinned=bool(assignment and assignment.pinned),
    )

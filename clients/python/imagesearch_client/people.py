"""People and faces of collections created with faces_enabled (docs/faces.md): the
requests, the plain types, and the methods both clients inherit (PeopleMethods for the
blocking client, AsyncPeopleMethods for the asyncio one; a test holds them congruent).

People are given by their IDs ("person-3", from list_people) or resource names; faces by
their item's ID and their position in its image (0: the best detector score).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Iterable, Iterator

from google.protobuf import field_mask_pb2

from imagesearch_client.names import collection_name, face_name, parse_face_name, parse_person_name, person_name
from imagesearch_client.types import Hit, Page
from imagesearch_client.v1 import imagesearch_pb2 as pb

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PersonFace:
    """A stored face: its item, its position in the item's image, its box (left, top,
    right, bottom), its person's ID, and whether it was placed by hand (kept by reclusters)."""

    item_id: str
    index: int
    box: Box
    person_id: str
    pinned: bool

    @classmethod
    def from_proto(cls, msg: pb.Face) -> "PersonFace":
        name = parse_face_name(msg.name)
        person = parse_person_name(msg.person).person_id if msg.person else ""
        return cls(name.item_id, name.index, (msg.box.left, msg.box.top, msg.box.right, msg.box.bottom), person,
                   msg.pinned)


@dataclass(frozen=True)
class Person:
    """A person: ID ("person-3"), display name ("" until named), face count and the face to show."""

    id: str
    display_name: str
    face_count: int
    representative: PersonFace

    @classmethod
    def from_proto(cls, msg: pb.Person) -> "Person":
        return cls(parse_person_name(msg.name).person_id, msg.display_name, msg.face_count,
                   PersonFace.from_proto(msg.representative_face))


@dataclass(frozen=True)
class ReclusterResult:
    """What a recluster did: faces regrouped, people they form, faces that changed person."""

    faces: int
    people: int
    changed: int

    @classmethod
    def from_proto(cls, msg: pb.ReclusterPeopleResponse) -> "ReclusterResult":
        return cls(msg.face_count, msg.person_count, msg.changed_face_count)


# --- requests -------------------------------------------------------------------------


def list_people(collection: str, page_size: int | None, page_token: str,
                min_face_count: int | None) -> pb.ListPeopleRequest:
    request = pb.ListPeopleRequest(parent=collection_name(collection), page_size=page_size or 0,
                                   page_token=page_token)
    if min_face_count is not None:
        request.min_face_count = min_face_count
    return request


def name_person(collection: str, person_id: str, display_name: str) -> pb.UpdatePersonRequest:
    return pb.UpdatePersonRequest(
        person=pb.Person(name=person_name(collection, person_id), display_name=display_name),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
    )


def merge_people(collection: str, person_id: str, others: Iterable[str]) -> pb.MergePeopleRequest:
    return pb.MergePeopleRequest(name=person_name(collection, person_id),
                                 people=[person_name(collection, p) for p in others])


def move_face(collection: str, item_id: str, face_index: int, person_id: str | None) -> pb.UpdateFaceRequest:
    person = person_name(collection, person_id) if person_id else ""
    return pb.UpdateFaceRequest(face=pb.Face(name=face_name(collection, item_id, face_index), person=person),
                                update_mask=field_mask_pb2.FieldMask(paths=["person"]))


def search_person(collection: str, person_id: str, top_k: int | None,
                  min_score: float | None) -> pb.SearchItemsRequest:
    request = pb.SearchItemsRequest(parent=collection_name(collection), person=person_name(collection, person_id))
    if top_k is not None:
        request.top_k = top_k
    if min_score is not None:
        request.min_score = min_score
    return request


# --- client methods ---------------------------------------------------------------------


class PeopleMethods:
    """The blocking client's people methods (ImageSearchClient inherits them)."""

    _stub: Any
    timeout: float

    def list_people(
        self, collection: str, min_face_count: int | None = None, page_size: int | None = None
    ) -> Iterator[Person]:
        """Every person with at least `min_face_count` faces (None: the server's
        faces_min_listed, default 2), most faces first, fetching pages as it goes."""
        token = ""
        while True:
            page = self.list_people_page(collection, page_size, token, min_face_count)
            yield from page.items
            if not (token := page.next_page_token):
                return

    def list_people_page(
        self, collection: str, page_size: int | None = None, page_token: str = "", min_face_count: int | None = None
    ) -> Page[Person]:
        """One page of people; min_face_count must be the same on every page."""
        reply = self._stub.ListPeople(list_people(collection, page_size, page_token, min_face_count),
                                      timeout=self.timeout)
        return Page([Person.from_proto(p) for p in reply.people], reply.next_page_token)

    def get_person(self, collection: str, person_id: str) -> Person:
        """One person; NOT_FOUND (PERSON_NOT_FOUND) when it does not exist."""
        request = pb.GetPersonRequest(name=person_name(collection, person_id))
        return Person.from_proto(self._stub.GetPerson(request, timeout=self.timeout))

    def name_person(self, collection: str, person_id: str, display_name: str) -> Person:
        """Names a person (0-100 characters; "" unnames it)."""
        request = name_person(collection, person_id, display_name)
        return Person.from_proto(self._stub.UpdatePerson(request, timeout=self.timeout))

    def merge_people(self, collection: str, person_id: str, others: Iterable[str]) -> Person:
        """Moves every face of `others` into `person_id`; the others cease to exist."""
        request = merge_people(collection, person_id, others)
        return Person.from_proto(self._stub.MergePeople(request, timeout=self.timeout))

    def move_face(self, collection: str, item_id: str, face_index: int, person_id: str | None) -> PersonFace:
        """Moves face `face_index` of item `item_id` to `person_id` (None: a new person of its own)."""
        request = move_face(collection, item_id, face_index, person_id)
        return PersonFace.from_proto(self._stub.UpdateFace(request, timeout=self.timeout))

    def delete_person(self, collection: str, person_id: str) -> None:
        """Deletes a person and its face vectors (biometric data); its items stay."""
        self._stub.DeletePerson(pb.DeletePersonRequest(name=person_name(collection, person_id)), timeout=self.timeout)

    def recluster_people(self, collection: str, timeout: float | None = None) -> ReclusterResult:
        """Regroups every face into people now (seconds at 10k faces; `timeout`: None, the client's)."""
        request = pb.ReclusterPeopleRequest(parent=collection_name(collection))
        return ReclusterResult.from_proto(self._stub.ReclusterPeople(request, timeout=timeout or self.timeout))

    def search_person(
        self, collection: str, person_id: str, top_k: int | None = None, min_score: float | None = None
    ) -> list[Hit]:
        """The items showing a person, best first (Hit.face_box: its face there)."""
        request = search_person(collection, person_id, top_k, min_score)
        return [Hit.from_proto(h) for h in self._stub.SearchItems(request, timeout=self.timeout)]


class AsyncPeopleMethods:
    """The asyncio client's people methods (AsyncImageSearchClient inherits them)."""

    _stub: Any
    timeout: float

    async def list_people(
        self, collection: str, min_face_count: int | None = None, page_size: int | None = None
    ) -> AsyncIterator[Person]:
        """Every person with at least `min_face_count` faces (None: the server's
        faces_min_listed, default 2), most faces first, fetching pages as it goes."""
        token = ""
        while True:
            page = await self.list_people_page(collection, page_size, token, min_face_count)
            for person in page.items:
                yield person
            if not (token := page.next_page_token):
                return

    async def list_people_page(
        self, collection: str, page_size: int | None = None, page_token: str = "", min_face_count: int | None = None
    ) -> Page[Person]:
        """One page of people; min_face_count must be the same on every page."""
        reply = await self._stub.ListPeople(list_people(collection, page_size, page_token, min_face_count),
                                            timeout=self.timeout)
        return Page([Person.from_proto(p) for p in reply.people], reply.next_page_token)

    async def get_person(self, collection: str, person_id: str) -> Person:
        """One person; NOT_FOUND (PERSON_NOT_FOUND) when it does not exist."""
        request = pb.GetPersonRequest(name=person_name(collection, person_id))
        return Person.from_proto(await self._stub.GetPerson(request, timeout=self.timeout))

    async def name_person(self, collection: str, person_id: str, display_name: str) -> Person:
        """Names a person (0-100 characters; "" unnames it)."""
        request = name_person(collection, person_id, display_name)
        return Person.from_proto(await self._stub.UpdatePerson(request, timeout=self.timeout))

    async def merge_people(self, collection: str, person_id: str, others: Iterable[str]) -> Person:
        """Moves every face of `others` into `person_id`; the others cease to exist."""
        request = merge_people(collection, person_id, others)
        return Person.from_proto(await self._stub.MergePeople(request, timeout=self.timeout))

    async def move_face(self, collection: str, item_id: str, face_index: int, person_id: str | None) -> PersonFace:
        """Moves face `face_index` of item `item_id` to `person_id` (None: a new person of its own)."""
        request = move_face(collection, item_id, face_index, person_id)
        return PersonFace.from_proto(await self._stub.UpdateFace(request, timeout=self.timeout))

    async def delete_person(self, collection: str, person_id: str) -> None:
        """Deletes a person and its face vectors (biometric data); its items stay."""
        await self._stub.DeletePerson(pb.DeletePersonRequest(name=person_name(collection, person_id)),
                                      timeout=self.timeout)

    async def recluster_people(self, collection: str, timeout: float | None = None) -> ReclusterResult:
        """Regroups every face into people now (seconds at 10k faces; `timeout`: None, the client's)."""
        request = pb.ReclusterPeopleRequest(parent=collection_name(collection))
        return ReclusterResult.from_proto(await self._stub.ReclusterPeople(request, timeout=timeout or self.timeout))

    async def search_person(
        self, collection: str, person_id: str, top_k: int | None = None, min_score: float | None = None
    ) -> list[Hit]:
        """The items showing a person, best first (Hit.face_box: its face there)."""
        request = search_person(collection, person_id, top_k, min_score)
        return [Hit.from_proto(h) async for h in self._stub.SearchItems(request, timeout=self.timeout)]

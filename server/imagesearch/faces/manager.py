"""Faces of collections: detection at insert, face search, and people. The API's one
entry point for everything about faces (see docs/faces.md for the RPCs it backs).

Per collection, one asyncio lock orders face writes and people edits: an insert's
"nearest person or a new one" decision must see the faces stored before it, or two
concurrent photos of a new person would each start one (a recluster would mend it, but
there is no need to make the mistake).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from imagesearch.faces.errors import FaceNotFound
from imagesearch.faces.people import (
    Assignment,
    Neighbour,
    People,
    choose_person,
)
from imagesearch.faces.people_edits import PeopleEdits
from imagesearch.faces.scoring import SAME_PERSON_SCORE, distance_to_score
from imagesearch.faces.search import (
    FaceQueryResult,
    FaceSelector,
    ItemMatch,
    best_per_item,
    select_faces,
)
from imagesearch.inference.faces import FaceDetection
from imagesearch.inference.triton_client import EncoderInfo
from imagesearch.store.base import ModelRecord
from imagesearch.store.faces import (
    MAX_FACES_PER_ITEM,
    FaceStore,
    FaceToStore,
    StoredFace,
    face_id,
)
from imagesearch.store.people_file import PeopleFiles, PeopleRecord

log = logging.getLogger(__name__)
MAX_CANDIDATES = 1000


class Detector(Protocol):
    """What the manager needs from inference (FaceDetector is one)."""

    async def info(self) -> EncoderInfo: ...

    async def detect(self, image: bytes) -> FaceDetection: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class FaceSettings:
    """min_faces_listed: faces a person needs before list_people shows it (singletons are
    mostly strangers in the background). neighbours: stored faces an inserted face is
    compared with to pick its person. recluster_every: new faces after which a
    collection is reclustered in the background (0: only on demand)."""

    min_faces_listed: int = 2
    neighbours: int = 8
    recluster_every: int = 1000

    @classmethod
    def from_settings(cls, settings) -> FaceSettings:
        """From the server's Settings (faces_min_listed, faces_recluster_every)."""
        return cls(min_faces_listed=settings.faces_min_listed, recluster_every=settings.faces_recluster_every)


class FaceManager(PeopleEdits):
    """Faces and people of every collection created with faces."""

    def __init__(self, store: FaceStore, people_files: PeopleFiles, detector: Detector, settings: FaceSettings) -> None:
        self._store = store
        self._files = people_files
        self._detector = detector
        self._settings = settings
        self._people: dict[str, People] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._recluster_locks: dict[str, asyncio.Lock] = {}
        self._since_recluster: dict[str, int] = {}
        self._background: set[asyncio.Task] = set()

    # --- collections ----------------------------------------------------------------

    async def enable(self, name: str) -> ModelRecord:
        """Give a new collection faces (call right after creating it); returns the face model."""
        info = await self._detector.info()
        model = ModelRecord(info.name, info.version, info.dimension)
        async with self._lock(name):
            await self._store.enable(name, model)
            self._files.write(name, PeopleRecord())
            self._people[name] = People()
        return model

    async def enabled(self, name: str) -> bool:
        return await self._store.enabled(name)

    async def disable(self, name: str) -> None:
        """Delete every face vector and person of `name` (with the collection, or on request)."""
        async with self._lock(name):
            await self._store.drop(name)
            self._files.delete(name)
            self._people.pop(name, None)

    async def prune(self, collections: set[str]) -> list[str]:
        """Drop the faces of collections that no longer exist (a crash between deleting a
        collection and its faces); call at start-up with the store's collection names."""
        orphans = [name for name in await self._store.collections() if name not in collections]
        for name in orphans:
            await self.disable(name)
        return orphans

    # --- detection and insert -------------------------------------------------------

    async def detect(self, image: bytes) -> FaceDetection:
        """DetectFaces: every face of an image, nothing stored; no face is an empty answer."""
        return await self._detector.detect(image)

    async def index_item(self, name: str, item_id: str, detection: FaceDetection) -> list[StoredFace]:
        """Store the faces of an inserted item (replacing the item's old ones), each joining
        the nearest person within the same-person threshold or starting one."""
        await self._store.model(name)
        async with self._lock(name):
            people = await self._loaded(name)
            assignments: list[Assignment | None] = []
            used: set[str] = set()
            # Face ids stop at MAX_FACES_PER_ITEM (the model's max_faces): a model configured
            # for more would leave faces that deleting the item could not find.
            kept = detection.faces[:MAX_FACES_PER_ITEM]
            for face in kept:
                matches = await self._store.nearest(name, face.embedding, self._settings.neighbours)
                # One image cannot show one person twice: persons already used here are out.
                neighbours = [
                    Neighbour(m.face.id, m.distance, people.person_of(m.face.id))
                    for m in matches
                    if people.person_of(m.face.id) not in used
                ]
                person = choose_person(neighbours) or people.new_person()
                used.add(person)
                assignments.append(Assignment(person))
            stale = [face_id(item_id, i) for i in range(MAX_FACES_PER_ITEM)]
            stored = await self._store.put_item(name, item_id, [_to_store(f) for f in kept], assignments)
            people.forget_faces(stale)
            for face in stored:
                people.assign(face.id, face.assignment.person_id)
        self._count_new_faces(name, len(stored))
        return stored

    async def delete_items(self, name: str, item_ids: Sequence[str]) -> int:
        """Delete the faces of deleted items; returns how many faces went (0 for a
        collection without faces, so Delete can call it for every collection)."""
        if not await self._store.enabled(name):
            return 0
        async with self._lock(name):
            deleted = await self._store.delete_items(name, item_ids)
            (await self._loaded(name)).forget_faces(deleted)
        return len(deleted)

    # --- search ---------------------------------------------------------------------

    async def search_image(
        self, name: str, image: bytes, selector: FaceSelector = FaceSelector(), limit: int = 10,
        min_score: float = SAME_PERSON_SCORE,
    ) -> list[FaceQueryResult]:
        """For each selected face of `image`, the items containing that person, best first.
        No face in the image: an empty list."""
        await self._store.model(name)
        detection = await self._detector.detect(image)
        results = []
        for index, face in select_faces(detection.faces, selector):
            matches = await self._matches(name, face.embedding, limit, min_score)
            results.append(FaceQueryResult(index, face.box, matches))
        return results

    async def search_face(
        self, name: str, face_id: str, limit: int = 10, min_score: float = SAME_PERSON_SCORE
    ) -> FaceQueryResult:
        """The items containing the person of a stored face (its own item included)."""
        found = await self._store.get(name, [face_id], with_embeddings=True)
        if not found:
            raise FaceNotFound(f"face {face_id!r} does not exist in collection {name!r}", face_id)
        matches = await self._matches(name, found[0].embedding, limit, min_score)
        return FaceQueryResult(None, found[0].box, matches, query_face_id=face_id)

    async def _matches(self, name: str, embedding: np.ndarray, limit: int, min_score: float) -> tuple[ItemMatch, ...]:
        candidates = await self._store.nearest(name, embedding, min(MAX_CANDIDATES, 4 * limit + 16))
        return best_per_item(candidates, limit, min_score)

    async def search_person(self, name: str, person_id: str, limit: int = 100) -> tuple[ItemMatch, ...]:
        """The items containing a person: each item's face of that person nearest the
        person's mean embedding, scored against that mean."""
        people = await self._loaded(name)
        faces = await self._store.get(name, people.members(person_id), with_embeddings=True)
        centre = np.mean([f.embedding for f in faces], axis=0)
        best: dict[str, ItemMatch] = {}
        for face in faces:
            score = distance_to_score(float(np.linalg.norm(face.embedding - centre)))
            if face.item_id not in best or score > best[face.item_id].score:
                best[face.item_id] = ItemMatch(face.item_id, face.id, face.box, score, person_id)
        return tuple(sorted(best.values(), key=lambda m: (-m.score, m.item_id))[:limit])

    # --- state ----------------------------------------------------------------------

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _loaded(self, name: str) -> People:
        """The collection's people, read from its faces and people file on first use."""
        people = self._people.get(name)
        if people is None:
            record = self._files.read(name)
            people = People(names=dict(record.names), next_number=record.next_number)
            async for face in self._store.scan(name):
                if face.assignment is not None:
                    people.assign(face.id, face.assignment.person_id, face.assignment.pinned)
            self._people[name] = people
        return people

    def _save(self, name: str, people: People) -> None:
        self._files.write(name, PeopleRecord(dict(people.names), people.next_number))

    def _count_new_faces(self, name: str, count: int) -> None:
        every = self._settings.recluster_every
        total = self._since_recluster.get(name, 0) + count
        self._since_recluster[name] = total
        if every > 0 and total >= every:
            self._since_recluster[name] = 0
            task = asyncio.create_task(self.recluster(name), name=f"recluster-{name}")
            self._background.add(task)
            task.add_done_callback(self._recluster_done)

    def _recluster_done(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A collection deleted meanwhile ends up here too; the next trigger retries.
            log.warning("background recluster failed: %r", task.exception())
        elif not task.cancelled():
            log.info("reclustered: %s", task.result())

    async def close(self) -> None:
        """Wait for background reclusters, then close the face store."""
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._store.close()

    @property
    def detector(self) -> Detector:
        """The face model's client (its owner closes it: tests share one between managers)."""
        return self._detector


def _to_store(face) -> FaceToStore:
    return FaceToStore(face.box, face.detector_score, face.landmarks, face.embedding)

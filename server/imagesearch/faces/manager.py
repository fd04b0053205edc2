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

from imagesearch.faces.clustering import chinese_whispers, relabel
from imagesearch.faces.errors import FaceNotFound, PersonNotFound
from imagesearch.faces.graph import same_person_edges
from imagesearch.faces.people import (
    Assignment,
    Neighbour,
    People,
    PersonSummary,
    choose_person,
)
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


@dataclass(frozen=True)
class PersonInfo:
    """A listed person: its representative face (the largest of its faces) and that face's item."""

    id: str
    name: str
    face_count: int
    representative: StoredFace


@dataclass(frozen=True)
class ReclusterReport:
    faces: int
    people: int
    changed: int


class FaceManager:
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

    # --- people ---------------------------------------------------------------------

    async def list_people(self, name: str, min_faces: int | None = None) -> list[PersonInfo]:
        """People with at least `min_faces` (default: the setting) faces, most faces first."""
        return await self.describe_people(name, await self.people_summaries(name, min_faces))

    async def describe_people(self, name: str, summaries: Sequence[PersonSummary]) -> list[PersonInfo]:
        """The PersonInfo (representative face included) of some people, e.g. one page of
        people_summaries: one store read for all of them."""
        faces = {f.id: f for f in await self._store.get(name, [fid for p in summaries for fid in p.face_ids])}
        return [self._info(p, faces) for p in summaries]

    async def face(self, name: str, face_id: str) -> StoredFace:
        """One stored face; FaceNotFound."""
        found = await self._store.get(name, [face_id])
        if not found:
            raise FaceNotFound(f"face {face_id!r} does not exist in collection {name!r}", face_id)
        return found[0]

    async def people_summaries(self, name: str, min_faces: int | None = None) -> list[PersonSummary]:
        """Like list_people, with every face id of each person and no store read."""
        people = await self._loaded(name)
        return people.listed(self._settings.min_faces_listed if min_faces is None else min_faces)

    @staticmethod
    def _info(person: PersonSummary, faces: dict[str, StoredFace]) -> PersonInfo:
        members = [faces[f] for f in person.face_ids if f in faces]
        if not members:  # its faces were deleted after the summary was taken
            raise PersonNotFound(f"person {person.id!r} does not exist any more", person.id)
        representative = max(members, key=lambda f: ((f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), f.id))
        return PersonInfo(person.id, person.name, person.face_count, representative)

    async def person(self, name: str, person_id: str) -> PersonInfo:
        people = await self._loaded(name)
        summary = PersonSummary(person_id, people.names.get(person_id, ""), tuple(people.members(person_id)))
        faces = {f.id: f for f in await self._store.get(name, summary.face_ids)}
        return self._info(summary, faces)

    async def name_person(self, name: str, person_id: str, new_name: str) -> PersonInfo:
        """Name (or, with "", unname) a person; PersonNotFound."""
        async with self._lock(name):
            people = await self._loaded(name)
            people.rename(person_id, new_name)
            self._save(name, people)
        return await self.person(name, person_id)

    async def merge_people(self, name: str, keep: str, absorb: str) -> PersonInfo:
        """Move every face of `absorb` into `keep` (pinned there); PersonNotFound."""
        async with self._lock(name):
            people = await self._loaded(name)
            changed = people.merge(keep, absorb)
            await self._store.reassign(name, changed)
            self._save(name, people)
        return await self.person(name, keep)

    async def move_face(self, name: str, face_id: str, person_id: str | None) -> PersonInfo:
        """Put a face with another person (None: a person of its own); FaceNotFound, PersonNotFound."""
        async with self._lock(name):
            people = await self._loaded(name)
            changed = people.move(face_id, person_id)
            await self._store.reassign(name, changed)
            self._save(name, people)
            target = changed[face_id].person_id
        return await self.person(name, target)

    async def delete_person(self, name: str, person_id: str) -> int:
        """Delete a person and its face vectors (biometric data; the items stay); returns
        how many faces were deleted. PersonNotFound."""
        async with self._lock(name):
            people = await self._loaded(name)
            faces = people.members(person_id)
            await self._store.delete_faces(name, faces)
            people.forget_faces(faces)
            self._save(name, people)
        return len(faces)

    async def recluster(self, name: str) -> ReclusterReport:
        """Regroup every face from scratch (Chinese whispers on the same-person graph),
        keeping person ids, names and hand-placed faces (faces/clustering.py).

        The graph and the clustering (seconds at 10k faces, minutes at 100k) run in a
        worker thread on a snapshot, without the collection's lock, so inserts and edits
        go on meanwhile; the result is then applied under the lock to the faces whose
        person did not change since the snapshot (faces added, moved, merged or deleted
        meanwhile keep what happened to them).
        """
        async with self._recluster_locks.setdefault(name, asyncio.Lock()):
            async with self._lock(name):
                await self._loaded(name)
                faces = [f async for f in self._store.scan(name, with_embeddings=True)]
            ids = [f.id for f in faces]
            embeddings = np.stack([f.embedding for f in faces]) if faces else np.zeros((0, 128))
            clusters = await asyncio.to_thread(_cluster, ids, embeddings)
            async with self._lock(name):
                people = await self._loaded(name)
                unchanged = {f.id for f in faces if people.assignments.get(f.id) == f.assignment}
                kept = [[f for f in cluster if f in unchanged] for cluster in clusters]
                new = relabel([c for c in kept if c], people)
                changed = {f: a for f, a in new.items() if people.assignments.get(f) != a}
                await self._store.reassign(name, changed)
                people.apply(changed)
                self._save(name, people)
                self._since_recluster[name] = 0
        return ReclusterReport(len(faces), len({a.person_id for a in new.values()}), len(changed))

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


def _cluster(ids: list[str], embeddings: np.ndarray) -> list[list[str]]:
    """The same-person graph and its clusters (CPU-bound: run in a worker thread)."""
    return chinese_whispers(ids, same_person_edges(ids, embeddings))

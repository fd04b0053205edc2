"""The people side of FaceManager: listing people, reading one, and the edits a person
makes (name, merge, move a face, delete), plus reclustering. A mixin over the manager's
store, people files and per-collection locks (faces/manager.py), so that each class stays
one job: the manager stores and finds faces, this groups and edits them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imagesearch.faces.clustering import chinese_whispers, relabel
from imagesearch.faces.errors import FaceNotFound, PersonNotFound
from imagesearch.faces.graph import same_person_edges
from imagesearch.faces.people import PersonSummary
from imagesearch.store.faces import FaceStore, StoredFace


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


class PeopleEdits:
    """People of a collection with faces: read them, edit them, regroup them."""

    _store: FaceStore
    _settings: "FaceSettings"  # noqa: F821 - faces.manager.FaceSettings (defined there)
    _recluster_locks: dict[str, asyncio.Lock]
    _since_recluster: dict[str, int]

    # FaceManager provides these too: _lock(name) (the collection's asyncio.Lock),
    # _loaded(name) (its People, read on first use) and _save(name, people).

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


def _cluster(ids: list[str], embeddings: np.ndarray) -> list[list[str]]:
    """The same-person graph and its clusters (CPU-bound: run in a worker thread)."""
    return chinese_whispers(ids, same_person_edges(ids, embeddings))

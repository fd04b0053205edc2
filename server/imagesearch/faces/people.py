"""Who is who: faces grouped into people, with the edits a person makes. Pure logic.

The membership (face -> person) and the pins live on the stored faces (store/faces.py
keeps them in each face's payload, written with the face), names and the id counter in
the collection's people file (store/people_file.py). This class is the in-memory view
both are loaded into; every method returns what changed so the caller can persist it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from imagesearch.faces.errors import FaceNotFound, PersonNotFound
from imagesearch.faces.scoring import SAME_PERSON_DISTANCE

PERSON_PREFIX = "person-"


@dataclass(frozen=True)
class Neighbour:
    """A stored face near a new one, with its person (None: not assigned yet)."""

    face_id: str
    distance: float
    person_id: str | None


@dataclass(frozen=True)
class PersonSummary:
    """One listed person: id, name ("" until named) and faces, sorted by face id."""

    id: str
    name: str
    face_ids: tuple[str, ...]

    @property
    def face_count(self) -> int:
        return len(self.face_ids)


@dataclass(frozen=True)
class Assignment:
    """A face's person, and whether a person put it there by hand (recluster keeps those)."""

    person_id: str
    pinned: bool = False


def choose_person(neighbours: Sequence[Neighbour], threshold: float = SAME_PERSON_DISTANCE) -> str | None:
    """The person of the nearest assigned neighbour closer than `threshold`; None starts one."""
    candidates = [n for n in neighbours if n.person_id is not None and n.distance < threshold]
    if not candidates:
        return None
    return min(candidates, key=lambda n: (n.distance, n.face_id)).person_id


@dataclass
class People:
    """Faces grouped into people, for one collection."""

    assignments: dict[str, Assignment] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    next_number: int = 1

    # --- reading -------------------------------------------------------------------

    def person_of(self, face_id: str) -> str | None:
        assignment = self.assignments.get(face_id)
        return assignment.person_id if assignment else None

    def members(self, person_id: str) -> list[str]:
        """The person's face ids, sorted; PersonNotFound when it has none."""
        faces = sorted(f for f, a in self.assignments.items() if a.person_id == person_id)
        if not faces:
            raise PersonNotFound(
                f"person {person_id!r} does not exist (deleted, merged into another, or emptied by a move): "
                "ListPeople lists the collection's people", person_id)
        return faces

    def listed(self, min_faces: int) -> list[PersonSummary]:
        """People with at least `min_faces` faces, most faces first, then by id."""
        groups: dict[str, list[str]] = {}
        for face_id, assignment in self.assignments.items():
            groups.setdefault(assignment.person_id, []).append(face_id)
        people = [
            PersonSummary(pid, self.names.get(pid, ""), tuple(sorted(faces)))
            for pid, faces in groups.items()
            if len(faces) >= min_faces
        ]
        return sorted(people, key=lambda p: (-p.face_count, p.id))

    # --- changes (each returns the faces whose assignment changed) -------------------

    def new_person(self) -> str:
        person_id = f"{PERSON_PREFIX}{self.next_number}"
        self.next_number += 1
        return person_id

    def observe_person_id(self, person_id: str) -> None:
        """Keep the counter past an id read from storage (a crash may have lost the file's)."""
        if person_id.startswith(PERSON_PREFIX) and person_id[len(PERSON_PREFIX):].isdigit():
            self.next_number = max(self.next_number, int(person_id[len(PERSON_PREFIX):]) + 1)

    def assign(self, face_id: str, person_id: str, pinned: bool = False) -> None:
        self.observe_person_id(person_id)
        self.assignments[face_id] = Assignment(person_id, pinned)

    def forget_faces(self, face_ids: Iterable[str]) -> None:
        """Drop deleted faces; a person left without faces disappears with its name."""
        for face_id in face_ids:
            self.assignments.pop(face_id, None)
        alive = {a.person_id for a in self.assignments.values()}
        for person_id in [p for p in self.names if p not in alive]:
            del self.names[person_id]

    def rename(self, person_id: str, name: str) -> None:
        self.members(person_id)  # PersonNotFound
        if name:
            self.names[person_id] = name
        else:
            self.names.pop(person_id, None)

    def merge(self, keep: str, absorb: str) -> dict[str, Assignment]:
        """Move every face of `absorb` to `keep`, pinned (a person decided they belong
        together, so a recluster must not split them again). Keeps `keep`'s name, or takes
        `absorb`'s when `keep` has none."""
        if keep == absorb:
            self.members(keep)
            return {}
        absorbed = self.members(absorb)
        self.members(keep)
        if keep not in self.names and absorb in self.names:
            self.names[keep] = self.names[absorb]
        self.names.pop(absorb, None)
        changed = {face_id: Assignment(keep, pinned=True) for face_id in absorbed}
        self.assignments.update(changed)
        return changed

    def move(self, face_id: str, person_id: str | None) -> dict[str, Assignment]:
        """Put one face with `person_id` (None: a new person of its own), pinned there."""
        if face_id not in self.assignments:
            raise FaceNotFound(f"face {face_id!r} does not exist", face_id)
        if person_id is None:
            person_id = self.new_person()
        else:
            self.members(person_id)
        changed = {face_id: Assignment(person_id, pinned=True)}
        self.assignments.update(changed)
        self.forget_faces([])  # the old person may now be empty
        return changed

    def apply(self, assignments: dict[str, Assignment]) -> None:
        """Take assignments computed elsewhere (a recluster)."""
        for face_id, assignment in assignments.items():
            self.assign(face_id, assignment.person_id, assignment.pinned)
        self.forget_faces([])

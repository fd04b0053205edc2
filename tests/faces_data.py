"""The shared five-person face photos (../shared/datasets/faces), read in place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conftest import DATASETS

FACES = DATASETS / "faces"
TWO_PEOPLE = FACES / "two_people.jpg"
# two_people.jpg holds these two (checked by eye: Obama on the left, Biden on the right).
TWO_PEOPLE_NAMES = ("obama", "biden")


@dataclass(frozen=True)
class FacePhoto:
    person: str
    path: Path

    @property
    def item_id(self) -> str:
        return f"{self.person}/{self.path.name}"


def single_person_photos() -> list[FacePhoto]:
    """The nine photos of one person each, sorted by person then file."""
    return [
        FacePhoto(folder.name, path)
        for folder in sorted(p for p in FACES.iterdir() if p.is_dir())
        for path in sorted(folder.iterdir())
    ]

"""People names and the person-id counter of one collection, in a small JSON file.

Membership is not here (each face's payload holds its person, written with the face);
this file only has what belongs to people: their names, and the next number so that a
deleted person's id is never reused. `<data_dir>/faces/people/<collection>.json`,
replaced atomically (temp file, fsync, rename, fsync of the directory).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from imagesearch.store.layout import fsync_dir


@dataclass
class PeopleRecord:
    names: dict[str, str] = field(default_factory=dict)
    next_number: int = 1


class PeopleFiles:
    """The people files of every collection with faces."""

    def __init__(self, data_dir: Path) -> None:
        self._root = Path(data_dir) / "faces" / "people"
        self._root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self._root / f"{name}.json"

    def read(self, name: str) -> PeopleRecord:
        """The collection's record; an empty one when it has none yet."""
        try:
            raw = json.loads(self._path(name).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return PeopleRecord()
        return PeopleRecord(names=dict(raw.get("names", {})), next_number=int(raw.get("next_number", 1)))

    def write(self, name: str, record: PeopleRecord) -> None:
        path = self._path(name)
        tmp = path.with_suffix(".json.tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"names": record.names, "next_number": record.next_number}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(self._root)

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

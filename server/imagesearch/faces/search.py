"""Face search: which query faces to use, and stored face matches turned into items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imagesearch.faces.errors import FaceIndexOutOfRange, InvalidFaceQuery
from imagesearch.inference.faces import Box, DetectedFace
from imagesearch.store.faces import FaceMatch

# A box names the detected face it overlaps most, if at least this much (intersection over union).
MIN_BOX_OVERLAP = 0.3


@dataclass(frozen=True)
class FaceSelector:
    """Which faces of a query image to search with: every face (both None), face number
    `index` (best detector score first, as DetectFaces lists them), or the face that best
    overlaps `box` (left, top, right, bottom in the upright image's pixels)."""

    index: int | None = None
    box: Box | None = None


@dataclass(frozen=True)
class ItemMatch:
    """An item containing the query's person: its best-matching face, that face's box and
    score (0..1; above SAME_PERSON_SCORE = same person) and the face's person."""

    item_id: str
    face_id: str
    box: Box
    score: float
    person_id: str | None


@dataclass(frozen=True)
class FaceQueryResult:
    """The matches of one query face, best first. query_index: its number in the query
    image (None when the query is a stored face, whose id is then query_face_id)."""

    query_index: int | None
    query_box: Box
    matches: tuple[ItemMatch, ...]
    query_face_id: str | None = None


def select_faces(faces: Sequence[DetectedFace], selector: FaceSelector) -> list[tuple[int, DetectedFace]]:
    """The (index, face) pairs the selector names; FaceIndexOutOfRange / InvalidFaceQuery."""
    if selector.index is not None and selector.box is not None:
        raise InvalidFaceQuery("give a face index or a box, not both")
    if selector.index is not None:
        if selector.index < 0:
            raise InvalidFaceQuery(f"face index must be >= 0, got {selector.index}")
        if selector.index >= len(faces):
            raise FaceIndexOutOfRange(f"face index {selector.index} is out of range: the image has {len(faces)} face(s)")
        return [(selector.index, faces[selector.index])]
    if selector.box is not None:
        overlaps = [(iou(selector.box, face.box), i) for i, face in enumerate(faces)]
        best = max(overlaps, default=(0.0, -1))
        if best[0] < MIN_BOX_OVERLAP:
            raise InvalidFaceQuery(f"no detected face overlaps the box {tuple(selector.box)} (the image has {len(faces)} face(s))")
        return [(best[1], faces[best[1]])]
    return list(enumerate(faces))


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (left, top, right, bottom) boxes."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def best_per_item(matches: Sequence[FaceMatch], limit: int, min_score: float) -> tuple[ItemMatch, ...]:
    """One match per item (its best face), scoring at least `min_score`, best first."""
    best: dict[str, FaceMatch] = {}
    for match in matches:
        if match.score < min_score:
            continue
        current = best.get(match.face.item_id)
        if current is None or (match.score, current.face.id) > (current.score, match.face.id):
            best[match.face.item_id] = match
    ranked = sorted(best.values(), key=lambda m: (-m.score, m.face.item_id))[:limit]
    return tuple(
        ItemMatch(
            item_id=m.face.item_id,
            face_id=m.face.id,
            box=m.face.box,
            score=m.score,
            person_id=m.face.assignment.person_id if m.face.assignment else None,
        )
        for m in ranked
    )

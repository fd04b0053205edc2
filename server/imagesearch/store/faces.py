"""Face points: every face of an inserted image, stored as its own point, beside the items.

Where: a second store of the same engine, `<data_dir>/faces/collections/<name>/` for the
embedded engine (open_face_vectors). Why a separate shard rather than a second vector
space in the items' shard: an item point must have a vector in every space of its
collection, and a face point would need an image vector, so faces in the same shard
would be points every count, list, scroll, search and duplicate lookup of items has to
filter out; in their own shard, item calls cannot see them at all, face searches scan
only faces, and the faces get the same WAL, kill -9 durability, index builds and
recovery as items, from the same code. The cost: one more shard per collection with faces.

Face ids are `<index>:<item id>` (index: the face's position, best detector score first),
so deleting an item deletes ids 0..MAX_FACES_PER_ITEM-1 without a filter or a lookup
table. A face's payload (under the store's metadata key) holds its item, box, detector
score, landmarks, embedding norm (for exact distances, see faces/scoring.py) and its
person with the pin flag: membership is written with the face, atomically.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from imagesearch.faces.errors import FacesNotEnabled
from imagesearch.faces.people import Assignment
from imagesearch.faces.scoring import distance_from_cosine, distance_to_score
from imagesearch.store.base import (
    CollectionExists,
    CollectionNotFound,
    ModelRecord,
    ModelSetRecord,
    ModerationPolicy,
    PointToStore,
    SpaceRecord,
    StoredPoint,
    VectorStore,
)

FACE_SET_NAME = "faces"
FACE_SPACE = "face"
# The model's max_faces (config.pbtxt): the most face ids one item can own.
MAX_FACES_PER_ITEM = 64
MAX_ID_LENGTH = 256
SCROLL_PAGE = 512
Box = tuple[float, float, float, float]


def face_id(item_id: str, index: int) -> str:
    """The id of face `index` of item `item_id` (a digest when the item id is too long)."""
    candidate = f"{index}:{item_id}"
    if len(candidate) <= MAX_ID_LENGTH:
        return candidate
    return f"{index}:sha256:{hashlib.sha256(item_id.encode('utf-8')).hexdigest()}"


@dataclass(frozen=True)
class FaceToStore:
    """One detected face of an item, as the inference client returns it."""

    box: Box
    detector_score: float
    landmarks: tuple[tuple[float, float], ...]
    embedding: np.ndarray  # float32 [128], dlib's raw (not unit-length) descriptor


@dataclass(frozen=True)
class StoredFace:
    """A stored face; `embedding` only when asked for."""

    id: str
    item_id: str
    index: int
    box: Box
    detector_score: float
    assignment: Assignment | None
    norm: float
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class FaceMatch:
    """A stored face near a query face: dlib's distance and its 0..1 score."""

    face: StoredFace
    distance: float
    score: float


def face_model_set(model: ModelRecord) -> ModelSetRecord:
    """The one-space model set face shards are created with."""
    return ModelSetRecord(FACE_SET_NAME, (SpaceRecord(FACE_SPACE, model),))


def _payload(item_id: str, index: int, face: FaceToStore, assignment: Assignment | None) -> dict:
    body = {
        "item_id": item_id,
        "index": index,
        "box": [float(v) for v in face.box],
        "detector_score": float(face.detector_score),
        "landmarks": [[float(x), float(y)] for x, y in face.landmarks],
        "norm": float(np.linalg.norm(face.embedding)),
    }
    if assignment is not None:
        body["person"] = assignment.person_id
        body["pinned"] = assignment.pinned
    return body


def _stored_face(point: StoredPoint) -> StoredFace:
    meta = point.metadata
    person = meta.get("person")
    vectors = point.vectors or {}
    norm = float(meta["norm"])
    embedding = vectors.get(FACE_SPACE)
    if embedding is not None:
        # The cosine space stores unit vectors; the norm restores dlib's descriptor.
        unit = np.asarray(embedding, np.float32)
        embedding = unit / max(float(np.linalg.norm(unit)), 1e-12) * norm
    return StoredFace(
        id=point.id,
        item_id=meta["item_id"],
        index=int(meta["index"]),
        box=tuple(meta["box"]),
        detector_score=float(meta["detector_score"]),
        assignment=Assignment(person, bool(meta.get("pinned", False))) if person else None,
        norm=norm,
        embedding=embedding,
    )


class FaceStore:
    """Faces of the collections that have them, over a VectorStore of their own."""

    def __init__(self, vectors: VectorStore) -> None:
        self._vectors = vectors

    async def enable(self, name: str, model: ModelRecord) -> None:
        """Give collection `name` a face shard; replaces a leftover one of a deleted collection."""
        try:
            await self._vectors.create_collection(name, face_model_set(model), ModerationPolicy(scoring=False))
        except CollectionExists:
            await self._vectors.delete_collection(name)
            await self._vectors.create_collection(name, face_model_set(model), ModerationPolicy(scoring=False))

    async def model(self, name: str) -> ModelRecord:
        """The face model of `name`; FacesNotEnabled (naming the fix) when it has no faces."""
        try:
            return (await self._vectors.model_set(name)).spaces[0].model
        except CollectionNotFound:
            raise FacesNotEnabled(
                f"collection {name!r} does not store faces: faces are chosen when a collection is "
                "created; create a new collection with faces enabled and insert the images again"
            ) from None

    async def enabled(self, name: str) -> bool:
        try:
            await self.model(name)
            return True
        except FacesNotEnabled:
            return False

    async def drop(self, name: str) -> None:
        """Delete every face vector of `name` (with its collection, or to remove biometric data)."""
        try:
            await self._vectors.delete_collection(name)
        except CollectionNotFound:
            pass

    async def collections(self) -> list[str]:
        return [info.name for info in await self._vectors.list_collections()]

    async def put_item(
        self, name: str, item_id: str, faces: Sequence[FaceToStore], assignments: Sequence[Assignment | None]
    ) -> list[StoredFace]:
        """Store an item's faces (replacing any it had); durable when this returns."""
        await self.model(name)
        old = [face_id(item_id, i) for i in range(len(faces), MAX_FACES_PER_ITEM)]
        await self._vectors.delete(name, old)
        points = [
            PointToStore(
                id=face_id(item_id, i),
                vectors={FACE_SPACE: np.asarray(face.embedding, np.float32)},
                metadata=_payload(item_id, i, face, assignment),
            )
            for i, (face, assignment) in enumerate(zip(faces, assignments, strict=True))
        ]
        await self._vectors.upsert(name, points)
        return [
            StoredFace(p.id, item_id, i, tuple(f.box), f.detector_score, a, p.metadata["norm"])
            for i, (p, f, a) in enumerate(zip(points, faces, assignments))
        ]

    async def delete_items(self, name: str, item_ids: Sequence[str]) -> list[str]:
        """Delete every face of these items; returns the ids of the faces that existed."""
        await self.model(name)
        ids = [face_id(item, i) for item in item_ids for i in range(MAX_FACES_PER_ITEM)]
        existing = [p.id for p in await self._vectors.get(name, ids)]
        await self._vectors.delete(name, existing)
        return existing

    async def delete_faces(self, name: str, face_ids: Sequence[str]) -> int:
        await self.model(name)
        return await self._vectors.delete(name, list(face_ids))

    async def get(self, name: str, face_ids: Sequence[str], with_embeddings: bool = False) -> list[StoredFace]:
        """The faces among `face_ids` that exist, in the order asked."""
        await self.model(name)
        return [_stored_face(p) for p in await self._vectors.get(name, list(face_ids), with_vectors=with_embeddings)]

    async def nearest(self, name: str, embedding: np.ndarray, limit: int) -> list[FaceMatch]:
        """The `limit` (1-1000) faces nearest `embedding`, by dlib's distance, nearest first."""
        await self.model(name)
        query = np.asarray(embedding, np.float32)
        query_norm = float(np.linalg.norm(query))
        hits = await self._vectors.search(name, query, limit)
        matches = []
        for hit in hits:
            face = _stored_face(StoredPoint(hit.id, hit.metadata))
            distance = distance_from_cosine(hit.score, query_norm, face.norm)
            matches.append(FaceMatch(face, distance, distance_to_score(distance)))
        # Cosine order and distance order can differ slightly when norms differ.
        return sorted(matches, key=lambda m: (m.distance, m.face.id))

    async def reassign(self, name: str, assignments: dict[str, Assignment]) -> None:
        """Write new person assignments into the faces' payloads (rewrites those points)."""
        ids = sorted(assignments)
        for start in range(0, len(ids), SCROLL_PAGE):
            points = await self._vectors.get(name, ids[start : start + SCROLL_PAGE], with_vectors=True)
            rewritten = []
            for point in points:
                meta = dict(point.metadata)
                meta["person"] = assignments[point.id].person_id
                meta["pinned"] = assignments[point.id].pinned
                rewritten.append(PointToStore(point.id, point.vectors or {}, meta))
            await self._vectors.upsert(name, rewritten)

    async def scan(self, name: str, with_embeddings: bool = False) -> AsyncIterator[StoredFace]:
        """Every face of `name`, page by page."""
        await self.model(name)
        offset: str | None = None
        while True:
            points, offset = await self._vectors.scroll(name, offset, SCROLL_PAGE)
            for point in points:
                face = _stored_face(point)
                yield face if with_embeddings else replace(face, embedding=None)
            if offset is None:
                return

    async def count(self, name: str) -> int:
        await self.model(name)
        return await self._vectors.count(name)

    async def close(self) -> None:
        await self._vectors.close()


def open_face_vectors(data_dir: Path, index_threshold: int, index_quantization: str = "int8") -> VectorStore:
    """The embedded store face shards live in: `<data_dir>/faces/`, apart from the items'.

    A remote Qdrant is not supported yet: its collections would need a namespace the
    items' store does not list (see docs/faces.md).
    """
    from imagesearch.store.edge import EdgeStore
    from imagesearch.store.shard_config import IndexSettings

    return EdgeStore(Path(data_dir) / "faces", IndexSettings(threshold=index_threshold, quantization=index_quantization))

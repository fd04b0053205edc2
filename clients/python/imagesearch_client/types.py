"""Plain dataclasses the client takes and returns, and their conversions to and from the
API messages. Items are named by their plain IDs here; the client builds the resource names."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, NamedTuple, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2
from google.rpc import status_pb2

from imagesearch_client.errors import status_error_info, status_field_violations
from imagesearch_client.names import (
    collection_name, parse_collection_name, parse_face_name, parse_item_name, parse_person_name,
)
from imagesearch_client.v1 import imagesearch_pb2 as pb

T = TypeVar("T")

_POLICIES = ("allow", "skip", "reject", "ignore")
_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def _optional(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def image_message(image: bytes | None, image_url: str | None) -> pb.Image:
    """The Image message for bytes or a URL; ValueError for both (the API takes one)."""
    if image and image_url:
        raise ValueError("give the image's bytes or its URL, not both")
    # Empty bytes still select `content`, so the server answers IMAGE_EMPTY for them.
    return pb.Image(uri=image_url) if image_url else pb.Image(content=image or b"")


def _whole_numbers_as_int(value: Any) -> Any:
    # Struct numbers are doubles on the wire; the server stores whole numbers as integers
    # (so integer matches work on them), and they come back as Python ints to match.
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers_as_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_int(v) for v in value]
    return value


def metadata_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    """An item's metadata as plain Python values, whole numbers as int."""
    return _whole_numbers_as_int(json_format.MessageToDict(struct))


def _item_id(msg: pb.Item) -> str:
    # A failed import's item carries only its name; the ID is in there.
    if msg.item_id or not msg.name:
        return msg.item_id
    return parse_item_name(msg.name).item_id


class Space(NamedTuple):
    """One vector space's model; compares equal to the tuple (name, version, dimension, text_searchable)."""

    model_name: str
    model_version: str
    dimension: int
    text_searchable: bool


@dataclass(frozen=True)
class Collection:
    """A collection: its model set, vector spaces (the image-similarity space first) and sizes."""

    id: str
    name: str  # "collections/{id}"
    model_set: str
    spaces: dict[str, Space]
    item_count: int
    indexed_item_count: int
    create_time: datetime | None = None
    description: str = ""
    max_nsfw_score: float | None = None  # None: inserts are not refused for their NSFW score
    skip_nsfw_scoring: bool = False  # inserts are not scored (and have no nsfw_score)
    keep_originals: bool = False  # the items' image bytes are kept (re-processing)
    faces_enabled: bool = False  # inserts detect faces; search_faces works
    ocr_enabled: bool = False  # inserts read the text in their images; search_image_text works
    score_calibration: str = ""  # the calibration its hits are scored with, pinned at creation ("offline/v1")

    @property
    def image_space(self) -> Space:
        """The image-similarity space (the first)."""
        return next(iter(self.spaces.values()))

    @property
    def model_name(self) -> str:
        return self.image_space.model_name

    @property
    def model_version(self) -> str:
        return self.image_space.model_version

    @property
    def dimension(self) -> int:
        return self.image_space.dimension

    @classmethod
    def from_proto(cls, msg: pb.Collection) -> "Collection":
        spaces = {
            s.name: Space(s.model.name, s.model.version, s.model.dimension, s.text_searchable) for s in msg.spaces
        }
        created = msg.create_time.ToDatetime() if msg.HasField("create_time") else None
        return cls(
            parse_collection_name(msg.name), msg.name, msg.model_set, spaces, msg.item_count,
            msg.indexed_item_count, created, msg.description, _optional(msg, "max_nsfw_score"), msg.skip_nsfw_scoring,
            msg.keep_originals, msg.faces_enabled, msg.ocr_enabled, msg.score_calibration,
        )


@dataclass(frozen=True)
class Item:
    """A stored item: its plain ID, metadata and NSFW score (None where not scored)."""

    id: str
    metadata: dict[str, Any]
    nsfw_score: float | None = None
    name: str = ""  # "collections/{collection}/items/{encoded id}"
    # What the server did not derive from its image, e.g. ("faces",): see Item.missing_features.
    missing_features: tuple[str, ...] = ()
    # The lines of text read in its image (collections with ocr_enabled).
    text_lines: tuple["TextLine", ...] = ()

    @classmethod
    def from_proto(cls, msg: pb.Item) -> "Item":
        missing = tuple(pb.ItemFeature.Name(f).removeprefix("ITEM_FEATURE_").lower() for f in msg.missing_features)
        lines = tuple(TextLine.from_proto(line) for line in msg.text_lines)
        return cls(_item_id(msg), metadata_dict(msg.metadata), _optional(msg, "nsfw_score"), msg.name, missing, lines)


@dataclass(frozen=True)
class TextLine:
    """A line of text read in an image: its text, confidence 0..1 and four corner points."""

    text: str
    confidence: float
    box: tuple[tuple[float, float], ...]

    @classmethod
    def from_proto(cls, msg: pb.TextLine) -> "TextLine":
        return cls(msg.text, msg.confidence, tuple((p.x, p.y) for p in msg.box))


@dataclass(frozen=True)
class Duplicate:
    """The stored item an inserted image duplicates: the same bytes (`exact`) or a
    near-duplicate scoring `score`; `skipped`: the "skip" policy kept it instead."""

    id: str
    exact: bool
    score: float
    skipped: bool

    @classmethod
    def from_proto(cls, msg: pb.Item) -> "Duplicate | None":
        if not msg.HasField("duplicate"):
            return None
        dup = msg.duplicate
        return cls(parse_item_name(dup.item).item_id, dup.exact, dup.score, dup.skipped)


@dataclass(frozen=True)
class ItemResult:
    """What one insert did: the stored item (the existing one when skipped) and the
    duplicate it found, if any."""

    item: Item
    duplicate: Duplicate | None = None

    @property
    def id(self) -> str:
        return self.item.id

    @property
    def skipped(self) -> bool:
        return self.duplicate is not None and self.duplicate.skipped

    @classmethod
    def from_proto(cls, msg: pb.Item) -> "ItemResult":
        return cls(Item.from_proto(msg), Duplicate.from_proto(msg))


@dataclass(frozen=True)
class ItemError:
    """Why one imported item was not stored: the status a failed CreateItem would have had."""

    code: grpc.StatusCode
    message: str
    reason: str | None = None  # ErrorInfo.reason, e.g. "IMAGE_UNDECODABLE"
    metadata: dict[str, str] = field(default_factory=dict)  # ErrorInfo.metadata
    field_violations: dict[str, str] = field(default_factory=dict)  # BadRequest: field -> description

    @classmethod
    def from_proto(cls, status: status_pb2.Status) -> "ItemError":
        info = status_error_info(status)
        return cls(
            _STATUS_CODES.get(status.code, grpc.StatusCode.UNKNOWN), status.message,
            info.reason if info else None, dict(info.metadata) if info else {}, status_field_violations(status),
        )


@dataclass(frozen=True)
class ImportOutcome:
    """What became of the item at `index` of an import: `error` is None when it was stored.

    On failure `item` carries only the ID (when the request had one)."""

    index: int
    item: Item | None
    duplicate: Duplicate | None = None
    error: ItemError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def id(self) -> str:
        return self.item.id if self.item is not None else ""

    @property
    def skipped(self) -> bool:
        return self.duplicate is not None and self.duplicate.skipped

    @classmethod
    def from_proto(cls, msg: pb.ImportItemsResponse) -> "ImportOutcome":
        item = Item.from_proto(msg.item) if msg.HasField("item") else None
        duplicate = Duplicate.from_proto(msg.item) if msg.HasField("item") else None
        error = ItemError.from_proto(msg.error) if msg.HasField("error") and msg.error.code else None
        return cls(msg.index, item, duplicate, error)


@dataclass(frozen=True)
class InsertItem:
    """One image to insert, as bytes or as a URL the server downloads; an empty id lets
    the server make one (a UUID); an existing id is replaced."""

    image: bytes = b""
    id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    image_url: str = ""
    # "allow" (store and report), "skip" (keep the existing item), "reject"
    # (ALREADY_EXISTS, reason DUPLICATE_IMAGE) or "ignore" (store without looking).
    duplicate_policy: str = "allow"

    def to_proto(self, collection: str) -> pb.CreateItemRequest:
        """The CreateItem request for `collection` (an ID or a name)."""
        if self.duplicate_policy not in _POLICIES:
            raise ValueError(f"duplicate_policy must be one of {_POLICIES}, not {self.duplicate_policy!r}")
        metadata = struct_pb2.Struct()
        metadata.update(self.metadata)
        return pb.CreateItemRequest(
            parent=collection_name(collection),
            item_id=self.id,
            image=image_message(self.image, self.image_url),
            item=pb.Item(metadata=metadata),
            duplicate_policy=pb.DuplicatePolicy.Value(f"DUPLICATE_POLICY_{self.duplicate_policy.upper()}"),
        )


@dataclass(frozen=True)
class Hit:
    """One search result: score 0..1, raw cosine similarity -1..1, rank from 1."""

    id: str
    score: float
    similarity: float
    rank: int
    metadata: dict[str, Any]
    nsfw_score: float | None = None
    # Face queries: the matching face's box (left, top, right, bottom) and the query face's index.
    face_box: tuple[float, float, float, float] | None = None
    query_face_index: int | None = None
    # Text queries: the lines the words were found in.
    matched_lines: tuple[TextLine, ...] = ()
    # The calibration that made `score` ("offline/v1"; "none": the cosine clamped at 0).
    score_calibration: str = ""
    # The server's copy check found this hit to be a copy of the query (score >= 0.9).
    near_duplicate: bool = False
    # Face and person queries: the matching face's position in the item's image and its person's ID.
    face_index: int | None = None
    person_id: str | None = None

    @classmethod
    def from_proto(cls, msg: pb.SearchItemsResponse) -> "Hit":
        item = Item.from_proto(msg.item)
        face = msg.face if msg.HasField("face") else None
        return cls(
            item.id, msg.score, msg.similarity, msg.rank, item.metadata, item.nsfw_score,
            _box(face.box) if face else None, face.query_face_index if face else None,
            tuple(TextLine.from_proto(line) for line in msg.matched_lines),
            score_calibration=msg.score_calibration, near_duplicate=msg.near_duplicate,
            face_index=parse_face_name(face.face).index if face and face.face else None,
            person_id=parse_person_name(face.person).person_id if face and face.person else None,
        )


def _box(box: pb.BoundingBox) -> tuple[float, float, float, float]:
    return (box.left, box.top, box.right, box.bottom)


@dataclass(frozen=True)
class Face:
    """A face DetectFaces found: box (left, top, right, bottom), confidence 0..1, landmarks."""

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: tuple[tuple[float, float], ...]

    @classmethod
    def from_proto(cls, msg: pb.DetectedFace) -> "Face":
        return cls(_box(msg.box), msg.confidence, tuple((p.x, p.y) for p in msg.landmarks))


@dataclass(frozen=True)
class Moderation:
    """An image's NSFW score (0..1) and its label at the server's threshold."""

    nsfw_score: float
    nsfw: bool
    threshold: float

    @classmethod
    def from_proto(cls, msg: pb.ModerateImageResponse) -> "Moderation":
        return cls(msg.nsfw_score, msg.nsfw, msg.threshold)


@dataclass(frozen=True)
class DuplicateGroup:
    """Stored items that are copies of one image (IDs sorted); `pairs` are (a, b, score) links."""

    ids: list[str]
    pairs: list[tuple[str, str, float]]

    @classmethod
    def from_proto(cls, msg: pb.FindDuplicatesResponse) -> "DuplicateGroup":
        def plain(name: str) -> str:
            return parse_item_name(name).item_id

        return cls([plain(n) for n in msg.items], [(plain(p.item_a), plain(p.item_b), p.score) for p in msg.pairs])


@dataclass(frozen=True)
class PurgeResult:
    """How many items a purge matched (and, with force, deleted), and up to 100 of their IDs."""

    count: int
    sample: list[str]

    @classmethod
    def from_proto(cls, msg: pb.PurgeItemsResponse) -> "PurgeResult":
        return cls(msg.purge_count, [parse_item_name(n).item_id for n in msg.purge_sample])


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass `next_page_token` for the next ("" on the last page)."""

    items: list[T]
    next_page_token: str

"""Plain dataclasses the client returns, and their conversions from the API messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, struct_pb2

from imagesearch.v1 import imagesearch_pb2 as pb


@dataclass(frozen=True)
class Collection:
    """A collection, its model set and the model of its image-similarity space."""

    name: str
    model_name: str
    model_version: str
    dimension: int
    count: int
    indexed_count: int
    model_set: str = ""
    # Space name -> (model name, version, dimension, text-searchable).
    spaces: dict[str, tuple[str, str, int, bool]] = field(default_factory=dict)
    max_nsfw_score: float | None = None  # moderation policy; None: inserts are not refused
    skip_nsfw_scoring: bool = False  # inserts are not scored (and have no nsfw_score)

    @classmethod
    def from_proto(cls, msg: pb.Collection) -> "Collection":
        spaces = {
            s.name: (s.model.name, s.model.version, s.model.dimension, s.text_searchable) for s in msg.spaces
        }
        policy = msg.max_nsfw_score if msg.HasField("max_nsfw_score") else None
        return cls(
            msg.name, msg.model.name, msg.model.version, msg.model.dimension, msg.count, msg.indexed_count,
            msg.model_set, spaces, policy, msg.skip_nsfw_scoring,
        )


@dataclass(frozen=True)
class Hit:
    """One search result; score in 0..1, rank from 1; nsfw_score 0..1 (None if not kept)."""

    id: str
    score: float
    rank: int
    metadata: dict[str, Any]
    nsfw_score: float | None = None

    @classmethod
    def from_proto(cls, msg: pb.SearchHit) -> "Hit":
        nsfw = msg.nsfw_score if msg.HasField("nsfw_score") else None
        return cls(msg.id, msg.score, msg.rank, json_format.MessageToDict(msg.metadata), nsfw)


@dataclass(frozen=True)
class Item:
    """A stored item."""

    id: str
    metadata: dict[str, Any]

    @classmethod
    def from_proto(cls, msg: pb.Item) -> "Item":
        return cls(msg.id, json_format.MessageToDict(msg.metadata))


@dataclass(frozen=True)
class InsertItem:
    """One image to insert, as bytes or as a URL the server downloads; an empty id lets
    the server make one."""

    image: bytes = b""
    id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    image_url: str = ""
    # "allow" (store and report), "skip" (keep the existing item) or "reject" (ALREADY_EXISTS).
    duplicate_policy: str = "allow"

    def to_proto(self, collection: str) -> pb.InsertRequest:
        metadata = struct_pb2.Struct()
        metadata.update(self.metadata)
        return pb.InsertRequest(
            collection=collection,
            id=self.id,
            image=self.image,
            metadata=metadata,
            image_url=self.image_url,
            duplicate_policy=pb.DuplicatePolicy.Value(f"DUPLICATE_POLICY_{self.duplicate_policy.upper()}"),
        )


@dataclass(frozen=True)
class InsertOutcome:
    """What became of one inserted item; `error_code` is empty on success.

    `duplicate_of` names the stored item the image duplicates ("" if none); `skipped`
    says the "skip" policy kept that item instead (`id` is then its id).
    """

    index: int
    id: str
    error_code: str = ""
    error_message: str = ""
    duplicate_of: str = ""
    duplicate_exact: bool = False
    duplicate_score: float = 0.0
    skipped: bool = False
    nsfw_score: float | None = None  # None where the collection skips NSFW scoring

    @property
    def ok(self) -> bool:
        return not self.error_code

    @classmethod
    def from_proto(cls, msg: pb.InsertResult) -> "InsertOutcome":
        dup = msg.duplicate_of
        return cls(
            msg.index, msg.id, msg.error.code, msg.error.message, dup.id, dup.exact, dup.score, msg.skipped,
            msg.nsfw_score if msg.HasField("nsfw_score") else None,
        )


@dataclass(frozen=True)
class Moderation:
    """An image's NSFW score (0..1) and its label at the server's threshold."""

    nsfw_score: float
    nsfw: bool
    threshold: float

    @classmethod
    def from_proto(cls, msg: pb.ModerateResponse) -> "Moderation":
        return cls(msg.nsfw_score, msg.nsfw, msg.threshold)


@dataclass(frozen=True)
class DuplicateGroup:
    """Stored items that are copies of one image; `pairs` are (a, b, score) links."""

    ids: list[str]
    pairs: list[tuple[str, str, float]]

    @classmethod
    def from_proto(cls, msg: pb.DuplicateGroup) -> "DuplicateGroup":
        return cls(list(msg.ids), [(p.a, p.b, p.score) for p in msg.pairs])

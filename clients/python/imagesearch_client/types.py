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

    @classmethod
    def from_proto(cls, msg: pb.Collection) -> "Collection":
        spaces = {
            s.name: (s.model.name, s.model.version, s.model.dimension, s.text_searchable) for s in msg.spaces
        }
        return cls(
            msg.name, msg.model.name, msg.model.version, msg.model.dimension, msg.count, msg.indexed_count,
            msg.model_set, spaces,
        )


@dataclass(frozen=True)
class Hit:
    """One search result; score in 0..1, rank from 1."""

    id: str
    score: float
    rank: int
    metadata: dict[str, Any]

    @classmethod
    def from_proto(cls, msg: pb.SearchHit) -> "Hit":
        return cls(msg.id, msg.score, msg.rank, json_format.MessageToDict(msg.metadata))


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
    """One image to insert; an empty id lets the server make one."""

    image: bytes
    id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_proto(self, collection: str) -> pb.InsertRequest:
        metadata = struct_pb2.Struct()
        metadata.update(self.metadata)
        return pb.InsertRequest(collection=collection, id=self.id, image=self.image, metadata=metadata)


@dataclass(frozen=True)
class InsertOutcome:
    """What became of one inserted item; `error_code` is empty on success."""

    index: int
    id: str
    error_code: str = ""
    error_message: str = ""

    @property
    def ok(self) -> bool:
        return not self.error_code

    @classmethod
    def from_proto(cls, msg: pb.InsertResult) -> "InsertOutcome":
        return cls(msg.index, msg.id, msg.error.code, msg.error.message)

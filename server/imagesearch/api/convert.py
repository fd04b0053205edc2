"""Conversions between the store's dataclasses and the API's messages."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from imagesearch.inference.triton_client import EncoderInfo
from imagesearch.store.base import CollectionInfo, ModelRecord, ScoredHit
from imagesearch.v1 import imagesearch_pb2 as pb


def to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    """A plain dict as a protobuf Struct."""
    out = struct_pb2.Struct()
    out.update(data)
    return out


def model_record(info: EncoderInfo) -> ModelRecord:
    """The record a new collection keeps of the encoder that fills it."""
    return ModelRecord(name=info.name, version=info.version, dimension=info.dimension)


def collection(info: CollectionInfo) -> pb.Collection:
    """A store collection as the API message."""
    created = timestamp_pb2.Timestamp()
    created.FromNanoseconds(int(info.created_at * 1e9))
    return pb.Collection(
        name=info.name,
        model=pb.EmbeddingModel(
            name=info.model.name, version=info.model.version, dimension=info.model.dimension
        ),
        count=info.count,
        create_time=created,
        indexed_count=info.indexed_count,
        max_nsfw_score=info.max_nsfw_score,
    )


def search_hit(hit: ScoredHit, rank: int) -> pb.SearchHit:
    """A store hit as the API message, `rank` counting from 1."""
    return pb.SearchHit(
        id=hit.id, score=hit.score, metadata=to_struct(hit.metadata), rank=rank, nsfw_score=hit.nsfw_score
    )

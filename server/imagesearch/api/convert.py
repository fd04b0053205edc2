"""Conversions between the store's dataclasses and the API's messages."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from imagesearch.models.model_sets import MODEL_SETS
from imagesearch.store.base import CollectionInfo, ModelRecord, ModelSetRecord, ScoredHit
from imagesearch.v1 import imagesearch_pb2 as pb


def to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    """A plain dict as a protobuf Struct."""
    out = struct_pb2.Struct()
    out.update(data)
    return out


def embedding_model(model: ModelRecord) -> pb.EmbeddingModel:
    """A model record as the API message."""
    return pb.EmbeddingModel(name=model.name, version=model.version, dimension=model.dimension)


def vector_spaces(model_set: ModelSetRecord) -> list[pb.VectorSpace]:
    """The spaces of a collection, each marked text-searchable when its set says so."""
    spec = MODEL_SETS.get(model_set.name)
    text_spaces = {s.name for s in spec.spaces if s.text_model} if spec else set()
    return [
        pb.VectorSpace(name=s.name, model=embedding_model(s.model), text_searchable=s.name in text_spaces)
        for s in model_set.spaces
    ]


def collection(info: CollectionInfo) -> pb.Collection:
    """A store collection as the API message."""
    created = timestamp_pb2.Timestamp()
    created.FromNanoseconds(int(info.created_at * 1e9))
    return pb.Collection(
        name=info.name,
        model=embedding_model(info.model),
        count=info.count,
        create_time=created,
        indexed_count=info.indexed_count,
        max_nsfw_score=info.moderation.max_score,
        skip_nsfw_scoring=not info.moderation.scoring,
        model_set=info.model_set.name,
        spaces=vector_spaces(info.model_set),
    )


def search_hit(hit: ScoredHit, rank: int) -> pb.SearchHit:
    """A store hit as the API message, `rank` counting from 1."""
    return pb.SearchHit(
        id=hit.id, score=hit.score, metadata=to_struct(hit.metadata), rank=rank, nsfw_score=hit.nsfw_score
    )

"""Conversions between the store's dataclasses and the API's messages."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2
from imagesearch_client import names
from imagesearch_client.v1 import imagesearch_pb2 as pb

from imagesearch.dedup.detector import Duplicate, DuplicateGroup
from imagesearch.inference.faces import FaceDetection
from imagesearch.models.model_sets import MODEL_SETS
from imagesearch.ocr.lines import OcrLine
from imagesearch.store.features import Feature
from imagesearch.store.base import CollectionInfo, ModelRecord, ModelSetRecord, ScoredHit, StoredPoint


# The store's feature names (store/features.py) as the API's enum.
_FEATURES = {
    Feature.FINGERPRINT.value: pb.ITEM_FEATURE_FINGERPRINT,
    Feature.NSFW.value: pb.ITEM_FEATURE_NSFW_SCORE,
    Feature.OCR.value: pb.ITEM_FEATURE_OCR,
    Feature.FACES.value: pb.ITEM_FEATURE_FACES,
}


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


def collection(info: CollectionInfo, keeps_originals: bool = False) -> pb.Collection:
    """A store collection as the API resource."""
    created = timestamp_pb2.Timestamp()
    created.FromNanoseconds(int(info.created_at * 1e9))
    return pb.Collection(
        name=names.collection_name(info.name),
        model_set=info.model_set.name,
        spaces=vector_spaces(info.model_set),
        item_count=info.count,
        indexed_item_count=info.indexed_count,
        create_time=created,
        description=info.description,
        max_nsfw_score=info.moderation.max_score,
        skip_nsfw_scoring=not info.moderation.scoring,
        keep_originals=keeps_originals,
    )


def item(collection_id: str, point: StoredPoint | ScoredHit) -> pb.Item:
    """A stored point (or a hit) as the API resource."""
    return pb.Item(
        name=names.item_name(collection_id, point.id),
        item_id=point.id,
        metadata=to_struct(point.metadata),
        nsfw_score=point.nsfw_score,
        missing_features=[_FEATURES[f] for f in getattr(point, "missing_features", ()) if f in _FEATURES],
        text_lines=[text_line(line) for line in getattr(point, "ocr_lines", None) or ()],
    )


def search_hit(collection_id: str, hit: ScoredHit, rank: int) -> pb.SearchItemsResponse:
    """A store hit as one streamed search response, `rank` counting from 1."""
    return pb.SearchItemsResponse(
        item=item(collection_id, hit), score=hit.score, similarity=hit.similarity, rank=rank
    )


def duplicate_info(collection_id: str, duplicate: Duplicate, skipped: bool) -> pb.DuplicateInfo:
    """The stored item an inserted image duplicates."""
    return pb.DuplicateInfo(
        item=names.item_name(collection_id, duplicate.id), exact=duplicate.exact, score=duplicate.score,
        skipped=skipped,
    )


def duplicate_group(collection_id: str, group: DuplicateGroup) -> pb.FindDuplicatesResponse:
    """A group of duplicates with item names."""
    return pb.FindDuplicatesResponse(
        items=[names.item_name(collection_id, i) for i in group.ids],
        pairs=[
            pb.DuplicatePair(
                item_a=names.item_name(collection_id, p.a), item_b=names.item_name(collection_id, p.b), score=p.score
            )
            for p in group.pairs
        ],
    )


def box(value) -> pb.BoundingBox:
    """A (left, top, right, bottom) box as the API message."""
    left, top, right, bottom = value
    return pb.BoundingBox(left=left, top=top, right=right, bottom=bottom)


def detected_faces(detection: FaceDetection) -> pb.DetectFacesResponse:
    """A face detection as the DetectFaces response."""
    return pb.DetectFacesResponse(
        faces=[
            pb.DetectedFace(
                box=box(face.box), confidence=face.confidence,
                landmarks=[pb.Point(x=x, y=y) for x, y in face.landmarks],
            )
            for face in detection.faces
        ],
        image_width=detection.width,
        image_height=detection.height,
    )


def text_line(line: OcrLine) -> pb.TextLine:
    """An OCR line as the API message."""
    return pb.TextLine(text=line.text, confidence=line.confidence, box=[pb.Point(x=x, y=y) for x, y in line.box])

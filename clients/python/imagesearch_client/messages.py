"""The API requests the blocking and the asyncio client send, built in one place so the
two cannot drift. Collections are given by ID or name, items by plain ID."""

from __future__ import annotations

from typing import Iterable

from google.protobuf import field_mask_pb2, struct_pb2

from imagesearch_client.names import collection_name, item_name
from imagesearch_client.types import image_message
from imagesearch_client.v1 import imagesearch_pb2 as pb


def create_collection(
    collection_id: str, model_set: str, max_nsfw_score: float | None, skip_nsfw_scoring: bool, description: str,
    keep_originals: bool = False, faces_enabled: bool = False, ocr_enabled: bool = False,
) -> pb.CreateCollectionRequest:
    body = pb.Collection(model_set=model_set, skip_nsfw_scoring=skip_nsfw_scoring, description=description,
                         keep_originals=keep_originals, faces_enabled=faces_enabled, ocr_enabled=ocr_enabled)
    if max_nsfw_score is not None:
        body.max_nsfw_score = max_nsfw_score
    return pb.CreateCollectionRequest(collection_id=collection_id, collection=body)


def update_collection(
    collection: str, description: str | None, max_nsfw_score: float | None, clear_max_nsfw_score: bool
) -> pb.UpdateCollectionRequest:
    body = pb.Collection(name=collection_name(collection))
    paths = []
    if description is not None:
        body.description = description
        paths.append("description")
    if max_nsfw_score is not None and clear_max_nsfw_score:
        raise ValueError("give max_nsfw_score or clear_max_nsfw_score, not both")
    if max_nsfw_score is not None:
        body.max_nsfw_score = max_nsfw_score
    if max_nsfw_score is not None or clear_max_nsfw_score:
        paths.append("max_nsfw_score")  # in the mask but unset: the cap is removed
    if not paths:
        # An empty mask would mean "every mutable field" and reset the ones not given.
        raise ValueError("nothing to update: give description, max_nsfw_score or clear_max_nsfw_score")
    return pb.UpdateCollectionRequest(collection=body, update_mask=field_mask_pb2.FieldMask(paths=paths))


def list_collections(page_size: int | None, page_token: str) -> pb.ListCollectionsRequest:
    return pb.ListCollectionsRequest(page_size=page_size or 0, page_token=page_token)


def list_items(
    collection: str, page_size: int | None, page_token: str, filter: pb.Filter | None
) -> pb.ListItemsRequest:
    return pb.ListItemsRequest(
        parent=collection_name(collection), page_size=page_size or 0, page_token=page_token, filter=filter
    )


def batch_get_items(collection: str, item_ids: Iterable[str], allow_missing: bool) -> pb.BatchGetItemsRequest:
    names = [item_name(collection, i) for i in item_ids]
    return pb.BatchGetItemsRequest(parent=collection_name(collection), names=names, allow_missing=allow_missing)


def update_item(
    collection: str, item_id: str, metadata: dict, keys: list[str] | None
) -> pb.UpdateItemRequest:
    body = struct_pb2.Struct()
    body.update(metadata)
    # Each "metadata.<key>" sets that key from `metadata`, or removes it when absent there.
    paths = ["metadata"] if keys is None else [f"metadata.{k}" for k in keys]
    if not paths:
        raise ValueError("keys is empty: name the keys to change, or pass None to replace the whole metadata")
    return pb.UpdateItemRequest(
        item=pb.Item(name=item_name(collection, item_id), metadata=body),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )


def batch_delete_items(collection: str, item_ids: Iterable[str]) -> pb.BatchDeleteItemsRequest:
    return pb.BatchDeleteItemsRequest(
        parent=collection_name(collection), names=[item_name(collection, i) for i in item_ids]
    )


def purge_items(collection: str, filter: pb.Filter, force: bool) -> pb.PurgeItemsRequest:
    return pb.PurgeItemsRequest(parent=collection_name(collection), filter=filter, force=force)


def count_items(collection: str, filter: pb.Filter | None) -> pb.CountItemsRequest:
    return pb.CountItemsRequest(parent=collection_name(collection), filter=filter)


def search(
    collection: str, top_k: int | None, min_score: float | None, filter: pb.Filter | None,
    max_nsfw_score: float | None, model_set: str, image_text_filter: str | None = None, **query: object,
) -> pb.SearchItemsRequest:
    """A SearchItems request; `query` is one of image=, text=, item= (plus include_query_item=);
    `image_text_filter`: only items whose text (OCR) holds these words."""
    request = pb.SearchItemsRequest(parent=collection_name(collection), filter=filter, model_set=model_set, **query)
    if image_text_filter is not None:
        request.image_text_filter.text = image_text_filter
    if top_k is not None:
        request.top_k = top_k
    if min_score is not None:
        request.min_score = min_score
    if max_nsfw_score is not None:
        request.max_nsfw_score = max_nsfw_score
    return request


def search_image(collection: str, image: bytes | None, image_url: str | None, **options: object) -> pb.SearchItemsRequest:
    return search(collection, image=image_message(image, image_url), **options)


def search_similar(collection: str, item_id: str, include_query_item: bool, **options: object) -> pb.SearchItemsRequest:
    return search(collection, item=item_name(collection, item_id), include_query_item=include_query_item, **options)


def search_faces(collection: str, image: bytes | None, image_url: str | None, face_index: int | None,
                 face_box: tuple[float, float, float, float] | None = None, face: str | None = None,
                 **options: object) -> pb.SearchItemsRequest:
    if face is not None:  # a stored face ("collections/{c}/items/{item}/faces/{n}")
        query = pb.FaceQuery(face=face)
    else:
        query = pb.FaceQuery(image=image_message(image, image_url))
    if face_index is not None:
        query.face_index = face_index
    if face_box is not None:
        query.box.CopyFrom(pb.BoundingBox(left=face_box[0], top=face_box[1], right=face_box[2], bottom=face_box[3]))
    return search(collection, face=query, **options)


def search_image_text(collection: str, text: str, phrase: bool, **options: object) -> pb.SearchItemsRequest:
    mode = pb.TEXT_MATCH_MODE_PHRASE if phrase else pb.TEXT_MATCH_MODE_ALL_WORDS
    return search(collection, image_text=pb.ImageTextQuery(text=text, mode=mode), **options)


def read_image_text(image: bytes | None, image_url: str | None) -> pb.ReadImageTextRequest:
    return pb.ReadImageTextRequest(image=image_message(image, image_url))


def detect_faces(image: bytes | None, image_url: str | None) -> pb.DetectFacesRequest:
    return pb.DetectFacesRequest(image=image_message(image, image_url))


def find_duplicates(collection: str, threshold: float | None) -> pb.FindDuplicatesRequest:
    return pb.FindDuplicatesRequest(parent=collection_name(collection), threshold=threshold)


def moderate_image(image: bytes | None, image_url: str | None) -> pb.ModerateImageRequest:
    return pb.ModerateImageRequest(image=image_message(image, image_url))


def import_request(collection: str, item) -> pb.ImportItemsRequest:
    """One ImportItems request for an InsertItem."""
    return pb.ImportItemsRequest(request=item.to_proto(collection))

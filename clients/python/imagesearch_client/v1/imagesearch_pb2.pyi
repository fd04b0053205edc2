import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ItemFeature(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ITEM_FEATURE_UNSPECIFIED: _ClassVar[ItemFeature]
    ITEM_FEATURE_FINGERPRINT: _ClassVar[ItemFeature]
    ITEM_FEATURE_NSFW_SCORE: _ClassVar[ItemFeature]
    ITEM_FEATURE_OCR: _ClassVar[ItemFeature]
    ITEM_FEATURE_FACES: _ClassVar[ItemFeature]

class DuplicatePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DUPLICATE_POLICY_UNSPECIFIED: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_ALLOW: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_SKIP: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_REJECT: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_IGNORE: _ClassVar[DuplicatePolicy]

class SearchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEARCH_MODE_UNSPECIFIED: _ClassVar[SearchMode]
    SEARCH_MODE_SIMILAR: _ClassVar[SearchMode]
    SEARCH_MODE_COPIES: _ClassVar[SearchMode]

class TextMatchMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT_MATCH_MODE_UNSPECIFIED: _ClassVar[TextMatchMode]
    TEXT_MATCH_MODE_ALL_WORDS: _ClassVar[TextMatchMode]
    TEXT_MATCH_MODE_PHRASE: _ClassVar[TextMatchMode]
ITEM_FEATURE_UNSPECIFIED: ItemFeature
ITEM_FEATURE_FINGERPRINT: ItemFeature
ITEM_FEATURE_NSFW_SCORE: ItemFeature
ITEM_FEATURE_OCR: ItemFeature
ITEM_FEATURE_FACES: ItemFeature
DUPLICATE_POLICY_UNSPECIFIED: DuplicatePolicy
DUPLICATE_POLICY_ALLOW: DuplicatePolicy
DUPLICATE_POLICY_SKIP: DuplicatePolicy
DUPLICATE_POLICY_REJECT: DuplicatePolicy
DUPLICATE_POLICY_IGNORE: DuplicatePolicy
SEARCH_MODE_UNSPECIFIED: SearchMode
SEARCH_MODE_SIMILAR: SearchMode
SEARCH_MODE_COPIES: SearchMode
TEXT_MATCH_MODE_UNSPECIFIED: TextMatchMode
TEXT_MATCH_MODE_ALL_WORDS: TextMatchMode
TEXT_MATCH_MODE_PHRASE: TextMatchMode

class Image(_message.Message):
    __slots__ = ("content", "uri")
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    content: bytes
    uri: str
    def __init__(self, content: _Optional[bytes] = ..., uri: _Optional[str] = ...) -> None: ...

class EmbeddingModel(_message.Message):
    __slots__ = ("name", "version", "dimension")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIMENSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    dimension: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., dimension: _Optional[int] = ...) -> None: ...

class VectorSpace(_message.Message):
    __slots__ = ("name", "model", "text_searchable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_SEARCHABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: EmbeddingModel
    text_searchable: bool
    def __init__(self, name: _Optional[str] = ..., model: _Optional[_Union[EmbeddingModel, _Mapping]] = ..., text_searchable: _Optional[bool] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("name", "model_set", "spaces", "item_count", "indexed_item_count", "create_time", "description", "max_nsfw_score", "skip_nsfw_scoring", "keep_originals", "faces_enabled", "ocr_enabled", "score_calibration")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_SET_FIELD_NUMBER: _ClassVar[int]
    SPACES_FIELD_NUMBER: _ClassVar[int]
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    INDEXED_ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    MAX_NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    SKIP_NSFW_SCORING_FIELD_NUMBER: _ClassVar[int]
    KEEP_ORIGINALS_FIELD_NUMBER: _ClassVar[int]
    FACES_ENABLED_FIELD_NUMBER: _ClassVar[int]
    OCR_ENABLED_FIELD_NUMBER: _ClassVar[int]
    SCORE_CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    model_set: str
    spaces: _containers.RepeatedCompositeFieldContainer[VectorSpace]
    item_count: int
    indexed_item_count: int
    create_time: _timestamp_pb2.Timestamp
    description: str
    max_nsfw_score: float
    skip_nsfw_scoring: bool
    keep_originals: bool
    faces_enabled: bool
    ocr_enabled: bool
    score_calibration: str
    def __init__(self, name: _Optional[str] = ..., model_set: _Optional[str] = ..., spaces: _Optional[_Iterable[_Union[VectorSpace, _Mapping]]] = ..., item_count: _Optional[int] = ..., indexed_item_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., description: _Optional[str] = ..., max_nsfw_score: _Optional[float] = ..., skip_nsfw_scoring: _Optional[bool] = ..., keep_originals: _Optional[bool] = ..., faces_enabled: _Optional[bool] = ..., ocr_enabled: _Optional[bool] = ..., score_calibration: _Optional[str] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("collection_id", "collection")
    COLLECTION_ID_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection_id: str
    collection: Collection
    def __init__(self, collection_id: _Optional[str] = ..., collection: _Optional[_Union[Collection, _Mapping]] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections", "next_page_token")
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[Collection]
    next_page_token: str
    def __init__(self, collections: _Optional[_Iterable[_Union[Collection, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UpdateCollectionRequest(_message.Message):
    __slots__ = ("collection", "update_mask")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    collection: Collection
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, collection: _Optional[_Union[Collection, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("name", "item_id", "metadata", "nsfw_score", "missing_features", "text_lines", "duplicate")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    MISSING_FEATURES_FIELD_NUMBER: _ClassVar[int]
    TEXT_LINES_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    item_id: str
    metadata: _struct_pb2.Struct
    nsfw_score: float
    missing_features: _containers.RepeatedScalarFieldContainer[ItemFeature]
    text_lines: _containers.RepeatedCompositeFieldContainer[TextLine]
    duplicate: DuplicateInfo
    def __init__(self, name: _Optional[str] = ..., item_id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., nsfw_score: _Optional[float] = ..., missing_features: _Optional[_Iterable[_Union[ItemFeature, str]]] = ..., text_lines: _Optional[_Iterable[_Union[TextLine, _Mapping]]] = ..., duplicate: _Optional[_Union[DuplicateInfo, _Mapping]] = ...) -> None: ...

class DuplicateInfo(_message.Message):
    __slots__ = ("item", "exact", "score", "skipped")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    item: str
    exact: bool
    score: float
    skipped: bool
    def __init__(self, item: _Optional[str] = ..., exact: _Optional[bool] = ..., score: _Optional[float] = ..., skipped: _Optional[bool] = ...) -> None: ...

class CreateItemRequest(_message.Message):
    __slots__ = ("parent", "item_id", "image", "item", "duplicate_policy")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_POLICY_FIELD_NUMBER: _ClassVar[int]
    parent: str
    item_id: str
    image: Image
    item: Item
    duplicate_policy: DuplicatePolicy
    def __init__(self, parent: _Optional[str] = ..., item_id: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., item: _Optional[_Union[Item, _Mapping]] = ..., duplicate_policy: _Optional[_Union[DuplicatePolicy, str]] = ...) -> None: ...

class ImportItemsRequest(_message.Message):
    __slots__ = ("request",)
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    request: CreateItemRequest
    def __init__(self, request: _Optional[_Union[CreateItemRequest, _Mapping]] = ...) -> None: ...

class ImportItemsResponse(_message.Message):
    __slots__ = ("index", "item", "error")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    index: int
    item: Item
    error: _status_pb2.Status
    def __init__(self, index: _Optional[int] = ..., item: _Optional[_Union[Item, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class GetItemRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListItemsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "filter")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    filter: Filter
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class ListItemsResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class BatchGetItemsRequest(_message.Message):
    __slots__ = ("parent", "names", "allow_missing")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    parent: str
    names: _containers.RepeatedScalarFieldContainer[str]
    allow_missing: bool
    def __init__(self, parent: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class BatchGetItemsResponse(_message.Message):
    __slots__ = ("items", "missing_names")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MISSING_NAMES_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    missing_names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., missing_names: _Optional[_Iterable[str]] = ...) -> None: ...

class UpdateItemRequest(_message.Message):
    __slots__ = ("item", "update_mask")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    item: Item
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, item: _Optional[_Union[Item, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class DeleteItemRequest(_message.Message):
    __slots__ = ("name", "allow_missing")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ALLOW_MISSING_FIELD_NUMBER: _ClassVar[int]
    name: str
    allow_missing: bool
    def __init__(self, name: _Optional[str] = ..., allow_missing: _Optional[bool] = ...) -> None: ...

class BatchDeleteItemsRequest(_message.Message):
    __slots__ = ("parent", "names")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    parent: str
    names: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, parent: _Optional[str] = ..., names: _Optional[_Iterable[str]] = ...) -> None: ...

class BatchDeleteItemsResponse(_message.Message):
    __slots__ = ("deleted_count",)
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    deleted_count: int
    def __init__(self, deleted_count: _Optional[int] = ...) -> None: ...

class PurgeItemsRequest(_message.Message):
    __slots__ = ("parent", "filter", "force")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    filter: Filter
    force: bool
    def __init__(self, parent: _Optional[str] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., force: _Optional[bool] = ...) -> None: ...

class PurgeItemsResponse(_message.Message):
    __slots__ = ("purge_count", "purge_sample")
    PURGE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PURGE_SAMPLE_FIELD_NUMBER: _ClassVar[int]
    purge_count: int
    purge_sample: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, purge_count: _Optional[int] = ..., purge_sample: _Optional[_Iterable[str]] = ...) -> None: ...

class CountItemsRequest(_message.Message):
    __slots__ = ("parent", "filter")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    parent: str
    filter: Filter
    def __init__(self, parent: _Optional[str] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class CountItemsResponse(_message.Message):
    __slots__ = ("item_count",)
    ITEM_COUNT_FIELD_NUMBER: _ClassVar[int]
    item_count: int
    def __init__(self, item_count: _Optional[int] = ...) -> None: ...

class SearchItemsRequest(_message.Message):
    __slots__ = ("parent", "image", "text", "item", "face", "image_text", "person", "top_k", "min_score", "filter", "max_nsfw_score", "model_set", "include_query_item", "image_text_filter", "mode")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_TEXT_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    MODEL_SET_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_QUERY_ITEM_FIELD_NUMBER: _ClassVar[int]
    IMAGE_TEXT_FILTER_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    parent: str
    image: Image
    text: str
    item: str
    face: FaceQuery
    image_text: ImageTextQuery
    person: str
    top_k: int
    min_score: float
    filter: Filter
    max_nsfw_score: float
    model_set: str
    include_query_item: bool
    image_text_filter: ImageTextQuery
    mode: SearchMode
    def __init__(self, parent: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., text: _Optional[str] = ..., item: _Optional[str] = ..., face: _Optional[_Union[FaceQuery, _Mapping]] = ..., image_text: _Optional[_Union[ImageTextQuery, _Mapping]] = ..., person: _Optional[str] = ..., top_k: _Optional[int] = ..., min_score: _Optional[float] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., max_nsfw_score: _Optional[float] = ..., model_set: _Optional[str] = ..., include_query_item: _Optional[bool] = ..., image_text_filter: _Optional[_Union[ImageTextQuery, _Mapping]] = ..., mode: _Optional[_Union[SearchMode, str]] = ...) -> None: ...

class ImageTextQuery(_message.Message):
    __slots__ = ("text", "mode")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    text: str
    mode: TextMatchMode
    def __init__(self, text: _Optional[str] = ..., mode: _Optional[_Union[TextMatchMode, str]] = ...) -> None: ...

class TextLine(_message.Message):
    __slots__ = ("text", "confidence", "box")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    text: str
    confidence: float
    box: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, text: _Optional[str] = ..., confidence: _Optional[float] = ..., box: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class FaceQuery(_message.Message):
    __slots__ = ("image", "face_index", "box", "face")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    face_index: int
    box: BoundingBox
    face: str
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ..., face_index: _Optional[int] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., face: _Optional[str] = ...) -> None: ...

class BoundingBox(_message.Message):
    __slots__ = ("left", "top", "right", "bottom")
    LEFT_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    RIGHT_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_FIELD_NUMBER: _ClassVar[int]
    left: float
    top: float
    right: float
    bottom: float
    def __init__(self, left: _Optional[float] = ..., top: _Optional[float] = ..., right: _Optional[float] = ..., bottom: _Optional[float] = ...) -> None: ...

class Point(_message.Message):
    __slots__ = ("x", "y")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class FaceMatch(_message.Message):
    __slots__ = ("box", "query_face_index", "face", "person")
    BOX_FIELD_NUMBER: _ClassVar[int]
    QUERY_FACE_INDEX_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    box: BoundingBox
    query_face_index: int
    face: str
    person: str
    def __init__(self, box: _Optional[_Union[BoundingBox, _Mapping]] = ..., query_face_index: _Optional[int] = ..., face: _Optional[str] = ..., person: _Optional[str] = ...) -> None: ...

class SearchItemsResponse(_message.Message):
    __slots__ = ("item", "score", "similarity", "rank", "face", "matched_lines", "score_calibration", "near_duplicate")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    FACE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_LINES_FIELD_NUMBER: _ClassVar[int]
    SCORE_CALIBRATION_FIELD_NUMBER: _ClassVar[int]
    NEAR_DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    item: Item
    score: float
    similarity: float
    rank: int
    face: FaceMatch
    matched_lines: _containers.RepeatedCompositeFieldContainer[TextLine]
    score_calibration: str
    near_duplicate: bool
    def __init__(self, item: _Optional[_Union[Item, _Mapping]] = ..., score: _Optional[float] = ..., similarity: _Optional[float] = ..., rank: _Optional[int] = ..., face: _Optional[_Union[FaceMatch, _Mapping]] = ..., matched_lines: _Optional[_Iterable[_Union[TextLine, _Mapping]]] = ..., score_calibration: _Optional[str] = ..., near_duplicate: _Optional[bool] = ...) -> None: ...

class FindDuplicatesRequest(_message.Message):
    __slots__ = ("parent", "threshold")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    parent: str
    threshold: float
    def __init__(self, parent: _Optional[str] = ..., threshold: _Optional[float] = ...) -> None: ...

class FindDuplicatesResponse(_message.Message):
    __slots__ = ("items", "pairs")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedScalarFieldContainer[str]
    pairs: _containers.RepeatedCompositeFieldContainer[DuplicatePair]
    def __init__(self, items: _Optional[_Iterable[str]] = ..., pairs: _Optional[_Iterable[_Union[DuplicatePair, _Mapping]]] = ...) -> None: ...

class DuplicatePair(_message.Message):
    __slots__ = ("item_a", "item_b", "score")
    ITEM_A_FIELD_NUMBER: _ClassVar[int]
    ITEM_B_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    item_a: str
    item_b: str
    score: float
    def __init__(self, item_a: _Optional[str] = ..., item_b: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class DetectFacesRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class DetectFacesResponse(_message.Message):
    __slots__ = ("faces", "image_width", "image_height")
    FACES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_WIDTH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    faces: _containers.RepeatedCompositeFieldContainer[DetectedFace]
    image_width: int
    image_height: int
    def __init__(self, faces: _Optional[_Iterable[_Union[DetectedFace, _Mapping]]] = ..., image_width: _Optional[int] = ..., image_height: _Optional[int] = ...) -> None: ...

class DetectedFace(_message.Message):
    __slots__ = ("box", "confidence", "landmarks")
    BOX_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    LANDMARKS_FIELD_NUMBER: _ClassVar[int]
    box: BoundingBox
    confidence: float
    landmarks: _containers.RepeatedCompositeFieldContainer[Point]
    def __init__(self, box: _Optional[_Union[BoundingBox, _Mapping]] = ..., confidence: _Optional[float] = ..., landmarks: _Optional[_Iterable[_Union[Point, _Mapping]]] = ...) -> None: ...

class ReadImageTextRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class ReadImageTextResponse(_message.Message):
    __slots__ = ("lines",)
    LINES_FIELD_NUMBER: _ClassVar[int]
    lines: _containers.RepeatedCompositeFieldContainer[TextLine]
    def __init__(self, lines: _Optional[_Iterable[_Union[TextLine, _Mapping]]] = ...) -> None: ...

class ModerateImageRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: Image
    def __init__(self, image: _Optional[_Union[Image, _Mapping]] = ...) -> None: ...

class ModerateImageResponse(_message.Message):
    __slots__ = ("nsfw_score", "nsfw", "threshold")
    NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    NSFW_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    nsfw_score: float
    nsfw: bool
    threshold: float
    def __init__(self, nsfw_score: _Optional[float] = ..., nsfw: _Optional[bool] = ..., threshold: _Optional[float] = ...) -> None: ...

class Filter(_message.Message):
    __slots__ = ("must", "should", "must_not")
    MUST_FIELD_NUMBER: _ClassVar[int]
    SHOULD_FIELD_NUMBER: _ClassVar[int]
    MUST_NOT_FIELD_NUMBER: _ClassVar[int]
    must: _containers.RepeatedCompositeFieldContainer[Condition]
    should: _containers.RepeatedCompositeFieldContainer[Condition]
    must_not: _containers.RepeatedCompositeFieldContainer[Condition]
    def __init__(self, must: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., should: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ..., must_not: _Optional[_Iterable[_Union[Condition, _Mapping]]] = ...) -> None: ...

class Condition(_message.Message):
    __slots__ = ("match", "match_any", "range", "datetime_range", "exists", "is_empty", "filter")
    MATCH_FIELD_NUMBER: _ClassVar[int]
    MATCH_ANY_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    DATETIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    EXISTS_FIELD_NUMBER: _ClassVar[int]
    IS_EMPTY_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    match: MatchCondition
    match_any: MatchAnyCondition
    range: NumericRangeCondition
    datetime_range: DatetimeRangeCondition
    exists: FieldKey
    is_empty: FieldKey
    filter: Filter
    def __init__(self, match: _Optional[_Union[MatchCondition, _Mapping]] = ..., match_any: _Optional[_Union[MatchAnyCondition, _Mapping]] = ..., range: _Optional[_Union[NumericRangeCondition, _Mapping]] = ..., datetime_range: _Optional[_Union[DatetimeRangeCondition, _Mapping]] = ..., exists: _Optional[_Union[FieldKey, _Mapping]] = ..., is_empty: _Optional[_Union[FieldKey, _Mapping]] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ...) -> None: ...

class MatchCondition(_message.Message):
    __slots__ = ("key", "keyword", "integer")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_FIELD_NUMBER: _ClassVar[int]
    INTEGER_FIELD_NUMBER: _ClassVar[int]
    key: str
    keyword: str
    integer: int
    def __init__(self, key: _Optional[str] = ..., keyword: _Optional[str] = ..., integer: _Optional[int] = ...) -> None: ...

class MatchAnyCondition(_message.Message):
    __slots__ = ("key", "keywords", "integers")
    KEY_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    INTEGERS_FIELD_NUMBER: _ClassVar[int]
    key: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    integers: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, key: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., integers: _Optional[_Iterable[int]] = ...) -> None: ...

class NumericRangeCondition(_message.Message):
    __slots__ = ("key", "gt", "gte", "lt", "lte")
    KEY_FIELD_NUMBER: _ClassVar[int]
    GT_FIELD_NUMBER: _ClassVar[int]
    GTE_FIELD_NUMBER: _ClassVar[int]
    LT_FIELD_NUMBER: _ClassVar[int]
    LTE_FIELD_NUMBER: _ClassVar[int]
    key: str
    gt: float
    gte: float
    lt: float
    lte: float
    def __init__(self, key: _Optional[str] = ..., gt: _Optional[float] = ..., gte: _Optional[float] = ..., lt: _Optional[float] = ..., lte: _Optional[float] = ...) -> None: ...

class DatetimeRangeCondition(_message.Message):
    __slots__ = ("key", "gt", "gte", "lt", "lte")
    KEY_FIELD_NUMBER: _ClassVar[int]
    GT_FIELD_NUMBER: _ClassVar[int]
    GTE_FIELD_NUMBER: _ClassVar[int]
    LT_FIELD_NUMBER: _ClassVar[int]
    LTE_FIELD_NUMBER: _ClassVar[int]
    key: str
    gt: _timestamp_pb2.Timestamp
    gte: _timestamp_pb2.Timestamp
    lt: _timestamp_pb2.Timestamp
    lte: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., gt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., gte: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lt: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., lte: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FieldKey(_message.Message):
    __slots__ = ("key",)
    KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    def __init__(self, key: _Optional[str] = ...) -> None: ...

class Person(_message.Message):
    __slots__ = ("name", "display_name", "face_count", "representative_face")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPRESENTATIVE_FACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    face_count: int
    representative_face: Face
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., face_count: _Optional[int] = ..., representative_face: _Optional[_Union[Face, _Mapping]] = ...) -> None: ...

class Face(_message.Message):
    __slots__ = ("name", "item", "box", "person", "pinned")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ITEM_FIELD_NUMBER: _ClassVar[int]
    BOX_FIELD_NUMBER: _ClassVar[int]
    PERSON_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    name: str
    item: str
    box: BoundingBox
    person: str
    pinned: bool
    def __init__(self, name: _Optional[str] = ..., item: _Optional[str] = ..., box: _Optional[_Union[BoundingBox, _Mapping]] = ..., person: _Optional[str] = ..., pinned: _Optional[bool] = ...) -> None: ...

class ListPeopleRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "min_face_count")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MIN_FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    min_face_count: int
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., min_face_count: _Optional[int] = ...) -> None: ...

class ListPeopleResponse(_message.Message):
    __slots__ = ("people", "next_page_token")
    PEOPLE_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    people: _containers.RepeatedCompositeFieldContainer[Person]
    next_page_token: str
    def __init__(self, people: _Optional[_Iterable[_Union[Person, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetPersonRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdatePersonRequest(_message.Message):
    __slots__ = ("person", "update_mask")
    PERSON_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    person: Person
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, person: _Optional[_Union[Person, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class MergePeopleRequest(_message.Message):
    __slots__ = ("name", "people")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PEOPLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    people: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., people: _Optional[_Iterable[str]] = ...) -> None: ...

class DeletePersonRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateFaceRequest(_message.Message):
    __slots__ = ("face", "update_mask")
    FACE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    face: Face
    update_mask: _field_mask_pb2.FieldMask
    def __init__(self, face: _Optional[_Union[Face, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ...) -> None: ...

class ReclusterPeopleRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class ReclusterPeopleResponse(_message.Message):
    __slots__ = ("face_count", "person_count", "changed_face_count")
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PERSON_COUNT_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    face_count: int
    person_count: int
    changed_face_count: int
    def __init__(self, face_count: _Optional[int] = ..., person_count: _Optional[int] = ..., changed_face_count: _Optional[int] = ...) -> None: ...

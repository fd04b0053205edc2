import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DuplicatePolicy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DUPLICATE_POLICY_ALLOW: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_SKIP: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_REJECT: _ClassVar[DuplicatePolicy]
    DUPLICATE_POLICY_IGNORE: _ClassVar[DuplicatePolicy]
DUPLICATE_POLICY_ALLOW: DuplicatePolicy
DUPLICATE_POLICY_SKIP: DuplicatePolicy
DUPLICATE_POLICY_REJECT: DuplicatePolicy
DUPLICATE_POLICY_IGNORE: DuplicatePolicy

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
    __slots__ = ("name", "model", "count", "create_time", "indexed_count", "max_nsfw_score", "skip_nsfw_scoring", "model_set", "spaces")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    INDEXED_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAX_NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    SKIP_NSFW_SCORING_FIELD_NUMBER: _ClassVar[int]
    MODEL_SET_FIELD_NUMBER: _ClassVar[int]
    SPACES_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: EmbeddingModel
    count: int
    create_time: _timestamp_pb2.Timestamp
    indexed_count: int
    max_nsfw_score: float
    skip_nsfw_scoring: bool
    model_set: str
    spaces: _containers.RepeatedCompositeFieldContainer[VectorSpace]
    def __init__(self, name: _Optional[str] = ..., model: _Optional[_Union[EmbeddingModel, _Mapping]] = ..., count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., indexed_count: _Optional[int] = ..., max_nsfw_score: _Optional[float] = ..., skip_nsfw_scoring: _Optional[bool] = ..., model_set: _Optional[str] = ..., spaces: _Optional[_Iterable[_Union[VectorSpace, _Mapping]]] = ...) -> None: ...

class CreateCollectionRequest(_message.Message):
    __slots__ = ("name", "max_nsfw_score", "skip_nsfw_scoring", "model_set")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    SKIP_NSFW_SCORING_FIELD_NUMBER: _ClassVar[int]
    MODEL_SET_FIELD_NUMBER: _ClassVar[int]
    name: str
    max_nsfw_score: float
    skip_nsfw_scoring: bool
    model_set: str
    def __init__(self, name: _Optional[str] = ..., max_nsfw_score: _Optional[float] = ..., skip_nsfw_scoring: _Optional[bool] = ..., model_set: _Optional[str] = ...) -> None: ...

class GetCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[Collection]
    def __init__(self, collections: _Optional[_Iterable[_Union[Collection, _Mapping]]] = ...) -> None: ...

class DeleteCollectionRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteCollectionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class InsertRequest(_message.Message):
    __slots__ = ("collection", "id", "image", "metadata", "image_url", "duplicate_policy")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_POLICY_FIELD_NUMBER: _ClassVar[int]
    collection: str
    id: str
    image: bytes
    metadata: _struct_pb2.Struct
    image_url: str
    duplicate_policy: DuplicatePolicy
    def __init__(self, collection: _Optional[str] = ..., id: _Optional[str] = ..., image: _Optional[bytes] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., image_url: _Optional[str] = ..., duplicate_policy: _Optional[_Union[DuplicatePolicy, str]] = ...) -> None: ...

class DuplicateInfo(_message.Message):
    __slots__ = ("id", "exact", "score")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXACT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    id: str
    exact: bool
    score: float
    def __init__(self, id: _Optional[str] = ..., exact: _Optional[bool] = ..., score: _Optional[float] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class InsertResult(_message.Message):
    __slots__ = ("index", "id", "error", "duplicate_of", "skipped", "nsfw_score")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    index: int
    id: str
    error: ItemError
    duplicate_of: DuplicateInfo
    skipped: bool
    nsfw_score: float
    def __init__(self, index: _Optional[int] = ..., id: _Optional[str] = ..., error: _Optional[_Union[ItemError, _Mapping]] = ..., duplicate_of: _Optional[_Union[DuplicateInfo, _Mapping]] = ..., skipped: _Optional[bool] = ..., nsfw_score: _Optional[float] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "image", "image_url", "text", "top_k", "min_score", "filter", "max_nsfw_score", "model_set")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    MODEL_SET_FIELD_NUMBER: _ClassVar[int]
    collection: str
    image: bytes
    image_url: str
    text: str
    top_k: int
    min_score: float
    filter: Filter
    max_nsfw_score: float
    model_set: str
    def __init__(self, collection: _Optional[str] = ..., image: _Optional[bytes] = ..., image_url: _Optional[str] = ..., text: _Optional[str] = ..., top_k: _Optional[int] = ..., min_score: _Optional[float] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., max_nsfw_score: _Optional[float] = ..., model_set: _Optional[str] = ...) -> None: ...

class SearchByIdRequest(_message.Message):
    __slots__ = ("collection", "id", "top_k", "min_score", "include_self", "filter", "max_nsfw_score")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SELF_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    id: str
    top_k: int
    min_score: float
    include_self: bool
    filter: Filter
    max_nsfw_score: float
    def __init__(self, collection: _Optional[str] = ..., id: _Optional[str] = ..., top_k: _Optional[int] = ..., min_score: _Optional[float] = ..., include_self: _Optional[bool] = ..., filter: _Optional[_Union[Filter, _Mapping]] = ..., max_nsfw_score: _Optional[float] = ...) -> None: ...

class SearchHit(_message.Message):
    __slots__ = ("id", "score", "metadata", "rank", "nsfw_score")
    ID_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    id: str
    score: float
    metadata: _struct_pb2.Struct
    rank: int
    nsfw_score: float
    def __init__(self, id: _Optional[str] = ..., score: _Optional[float] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., rank: _Optional[int] = ..., nsfw_score: _Optional[float] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("id", "metadata")
    ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    metadata: _struct_pb2.Struct
    def __init__(self, id: _Optional[str] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GetRequest(_message.Message):
    __slots__ = ("collection", "ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetResponse(_message.Message):
    __slots__ = ("items", "missing_ids")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    MISSING_IDS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Item]
    missing_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Iterable[_Union[Item, _Mapping]]] = ..., missing_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteRequest(_message.Message):
    __slots__ = ("collection", "ids")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    IDS_FIELD_NUMBER: _ClassVar[int]
    collection: str
    ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, collection: _Optional[str] = ..., ids: _Optional[_Iterable[str]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class CountRequest(_message.Message):
    __slots__ = ("collection",)
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    collection: str
    def __init__(self, collection: _Optional[str] = ...) -> None: ...

class CountResponse(_message.Message):
    __slots__ = ("count",)
    COUNT_FIELD_NUMBER: _ClassVar[int]
    count: int
    def __init__(self, count: _Optional[int] = ...) -> None: ...

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

class FindDuplicatesRequest(_message.Message):
    __slots__ = ("collection", "threshold")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    collection: str
    threshold: float
    def __init__(self, collection: _Optional[str] = ..., threshold: _Optional[float] = ...) -> None: ...

class DuplicateGroup(_message.Message):
    __slots__ = ("ids", "pairs")
    IDS_FIELD_NUMBER: _ClassVar[int]
    PAIRS_FIELD_NUMBER: _ClassVar[int]
    ids: _containers.RepeatedScalarFieldContainer[str]
    pairs: _containers.RepeatedCompositeFieldContainer[DuplicatePair]
    def __init__(self, ids: _Optional[_Iterable[str]] = ..., pairs: _Optional[_Iterable[_Union[DuplicatePair, _Mapping]]] = ...) -> None: ...

class DuplicatePair(_message.Message):
    __slots__ = ("a", "b", "score")
    A_FIELD_NUMBER: _ClassVar[int]
    B_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    a: str
    b: str
    score: float
    def __init__(self, a: _Optional[str] = ..., b: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class ModerateRequest(_message.Message):
    __slots__ = ("image_bytes", "image_url")
    IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_URL_FIELD_NUMBER: _ClassVar[int]
    image_bytes: bytes
    image_url: str
    def __init__(self, image_bytes: _Optional[bytes] = ..., image_url: _Optional[str] = ...) -> None: ...

class ModerateResponse(_message.Message):
    __slots__ = ("nsfw_score", "nsfw", "threshold")
    NSFW_SCORE_FIELD_NUMBER: _ClassVar[int]
    NSFW_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    nsfw_score: float
    nsfw: bool
    threshold: float
    def __init__(self, nsfw_score: _Optional[float] = ..., nsfw: _Optional[bool] = ..., threshold: _Optional[float] = ...) -> None: ...

from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    FIELD_INVALID: _ClassVar[ErrorReason]
    RESOURCE_NAME_INVALID: _ClassVar[ErrorReason]
    IMAGE_EMPTY: _ClassVar[ErrorReason]
    IMAGE_UNDECODABLE: _ClassVar[ErrorReason]
    IMAGE_FORMAT_UNSUPPORTED: _ClassVar[ErrorReason]
    IMAGE_TOO_LARGE: _ClassVar[ErrorReason]
    PAGE_TOKEN_INVALID: _ClassVar[ErrorReason]
    COLLECTION_NOT_FOUND: _ClassVar[ErrorReason]
    ITEM_NOT_FOUND: _ClassVar[ErrorReason]
    COLLECTION_ALREADY_EXISTS: _ClassVar[ErrorReason]
    DUPLICATE_IMAGE: _ClassVar[ErrorReason]
    MODEL_SET_MISMATCH: _ClassVar[ErrorReason]
    MODEL_SET_NOT_SERVED: _ClassVar[ErrorReason]
    TEXT_SEARCH_UNSUPPORTED: _ClassVar[ErrorReason]
    NSFW_SCORE_TOO_HIGH: _ClassVar[ErrorReason]
    NSFW_SCORES_MISSING: _ClassVar[ErrorReason]
    FACES_NOT_ENABLED: _ClassVar[ErrorReason]
    OCR_NOT_ENABLED: _ClassVar[ErrorReason]
    URL_FORBIDDEN: _ClassVar[ErrorReason]
    URL_FETCH_TIMEOUT: _ClassVar[ErrorReason]
    URL_FETCH_FAILED: _ClassVar[ErrorReason]
    INFERENCE_UNAVAILABLE: _ClassVar[ErrorReason]
    OPERATION_ALREADY_RUNNING: _ClassVar[ErrorReason]
    API_KEY_MISSING: _ClassVar[ErrorReason]
    API_KEY_INVALID: _ClassVar[ErrorReason]
    PERMISSION_MISSING: _ClassVar[ErrorReason]
    PERSON_NOT_FOUND: _ClassVar[ErrorReason]
    FACE_NOT_FOUND: _ClassVar[ErrorReason]
    INTERNAL_ERROR: _ClassVar[ErrorReason]
ERROR_REASON_UNSPECIFIED: ErrorReason
FIELD_INVALID: ErrorReason
RESOURCE_NAME_INVALID: ErrorReason
IMAGE_EMPTY: ErrorReason
IMAGE_UNDECODABLE: ErrorReason
IMAGE_FORMAT_UNSUPPORTED: ErrorReason
IMAGE_TOO_LARGE: ErrorReason
PAGE_TOKEN_INVALID: ErrorReason
COLLECTION_NOT_FOUND: ErrorReason
ITEM_NOT_FOUND: ErrorReason
COLLECTION_ALREADY_EXISTS: ErrorReason
DUPLICATE_IMAGE: ErrorReason
MODEL_SET_MISMATCH: ErrorReason
MODEL_SET_NOT_SERVED: ErrorReason
TEXT_SEARCH_UNSUPPORTED: ErrorReason
NSFW_SCORE_TOO_HIGH: ErrorReason
NSFW_SCORES_MISSING: ErrorReason
FACES_NOT_ENABLED: ErrorReason
OCR_NOT_ENABLED: ErrorReason
URL_FORBIDDEN: ErrorReason
URL_FETCH_TIMEOUT: ErrorReason
URL_FETCH_FAILED: ErrorReason
INFERENCE_UNAVAILABLE: ErrorReason
OPERATION_ALREADY_RUNNING: ErrorReason
API_KEY_MISSING: ErrorReason
API_KEY_INVALID: ErrorReason
PERMISSION_MISSING: ErrorReason
PERSON_NOT_FOUND: ErrorReason
FACE_NOT_FOUND: ErrorReason
INTERNAL_ERROR: ErrorReason

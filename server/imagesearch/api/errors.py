"""One place that turns failures into gRPC statuses a person and a program can act on.

Every status carries a google.rpc.ErrorInfo (AIP-193: a stable `reason` from
protos/imagesearch/v1/error_reason.proto, the domain, and the values a program needs in
`metadata`); validation errors also carry a google.rpc.BadRequest naming the field.
"""

from __future__ import annotations

import functools
import logging
import dataclasses
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status
from imagesearch_client.names import InvalidName
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.faces.errors import (
    FaceIndexOutOfRange, FaceNotFound, FacesNotEnabled, InvalidFaceQuery, PersonNotFound,
)
from imagesearch.fetch.fetcher import FetchFailed, FetchTimeout
from imagesearch.ocr.errors import InvalidTextQuery
from imagesearch.fetch.policy import FetchRefused
from imagesearch.inference.errors import InferenceUnavailable, InvalidImage
from imagesearch.scoring.registry import CalibrationNotShipped
from imagesearch.store.base import (
    AliasExists, AliasNotFound, CollectionExists, CollectionNotFound, InvalidCollectionName, OriginalsNotKept,
)
from imagesearch.store.snapshots import (
    ModelSetNotServed, SnapshotCorrupt, SnapshotError, SnapshotExists, SnapshotNotFound,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
# ErrorInfo.domain of every error this server sends.
ERROR_DOMAIN = "imagesearch.v1"


@dataclasses.dataclass
class ApiError(Exception):
    """A failure: status code, stable reason, message for people, the request field to
    blame (if any) and machine-readable details."""

    code: grpc.StatusCode
    reason: ErrorReason.ValueType
    message: str
    field: str = ""
    metadata: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return self.message

    def to_status_proto(self) -> status_pb2.Status:
        """The google.rpc.Status: code, message, ErrorInfo and (with a field) BadRequest."""
        proto = status_pb2.Status(code=self.code.value[0], message=self.message)
        info = error_details_pb2.ErrorInfo(
            reason=ErrorReason.Name(self.reason),
            domain=ERROR_DOMAIN,
            metadata={k: str(v) for k, v in self.metadata.items()},
        )
        if self.field:
            info.metadata["field"] = self.field
        _pack(proto, info)
        if self.field:
            violation = error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.message)
            _pack(proto, error_details_pb2.BadRequest(field_violations=[violation]))
        return proto

    def to_status(self) -> grpc.Status:
        """The rich status for grpc's abort_with_status."""
        return rpc_status.to_status(self.to_status_proto())


def _pack(status: status_pb2.Status, detail: Any) -> None:
    packed = any_pb2.Any()
    packed.Pack(detail)
    status.details.append(packed)


def status_name(code: grpc.StatusCode) -> str:
    """The canonical name of a status code, e.g. "NOT_FOUND"."""
    return code_pb2.Code.Name(code.value[0])


def invalid(
    field: str, message: str, reason: ErrorReason.ValueType = ErrorReason.FIELD_INVALID, **metadata: Any
) -> ApiError:
    """An INVALID_ARGUMENT error blaming `field`."""
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, reason, message, field, metadata)


def failed_precondition(reason: ErrorReason.ValueType, message: str, **metadata: Any) -> ApiError:
    """A FAILED_PRECONDITION error: the request is fine, the collection's state forbids it."""
    return ApiError(grpc.StatusCode.FAILED_PRECONDITION, reason, message, "", metadata)


def item_not_found(collection: str, item_id: str) -> ApiError:
    """NOT_FOUND for an item."""
    return ApiError(
        grpc.StatusCode.NOT_FOUND, ErrorReason.ITEM_NOT_FOUND,
        f"no item with ID {item_id!r} in collection {collection!r}", "", {"collection": collection, "item": item_id},
    )


def as_api_error(exc: BaseException, field: str = "") -> ApiError:
    """Maps any exception raised while serving to the status the client should see."""
    if isinstance(exc, ApiError):
        return exc
    mapped = _MAPPED.get(type(exc))
    if mapped is None:
        mapped = next((m for t, m in _MAPPED.items() if isinstance(exc, t)), None)
    if mapped is not None:
        return mapped(exc, field)
    log.exception("unexpected error while serving", exc_info=exc)
    return ApiError(
        grpc.StatusCode.INTERNAL, ErrorReason.INTERNAL_ERROR,
        f"internal error ({type(exc).__name__}); see the server log",
    )


def _collection_not_found(exc: CollectionNotFound, field: str) -> ApiError:
    return ApiError(grpc.StatusCode.NOT_FOUND, ErrorReason.COLLECTION_NOT_FOUND, str(exc), "",
                    {"collection": getattr(exc, "name", "")})


_MAPPED: dict[type, Callable[[Any, str], ApiError]] = {
    FacesNotEnabled: lambda e, f: failed_precondition(ErrorReason.FACES_NOT_ENABLED, str(e)),
    FaceIndexOutOfRange: lambda e, f: invalid(f or "face.face_index", str(e)),
    InvalidFaceQuery: lambda e, f: invalid(f or "face", str(e)),
    PersonNotFound: lambda e, f: ApiError(grpc.StatusCode.NOT_FOUND, ErrorReason.PERSON_NOT_FOUND, str(e), "",
                                          {"person": e.person_id}),
    FaceNotFound: lambda e, f: ApiError(grpc.StatusCode.NOT_FOUND, ErrorReason.FACE_NOT_FOUND, str(e), "",
                                        {"face": e.face_id}),
    InvalidTextQuery: lambda e, f: invalid(f or "image_text.text", f"{e}: type 1-256 characters, at most 16 words"),
    InvalidCollectionName: lambda e, f: invalid(f or "parent", str(e), ErrorReason.RESOURCE_NAME_INVALID),
    InvalidName: lambda e, f: invalid(f or "name", str(e), ErrorReason.RESOURCE_NAME_INVALID),
    CollectionNotFound: _collection_not_found,
    CollectionExists: lambda e, f: ApiError(
        grpc.StatusCode.ALREADY_EXISTS, ErrorReason.COLLECTION_ALREADY_EXISTS, str(e), "",
        {"collection": getattr(e, "name", "")}),
    InvalidImage: lambda e, f: invalid(f or "image.content", f"image could not be decoded: {e}",
                                       ErrorReason.IMAGE_UNDECODABLE),
    FetchRefused: lambda e, f: ApiError(grpc.StatusCode.PERMISSION_DENIED, ErrorReason.URL_FORBIDDEN, str(e),
                                        "image.uri"),
    FetchTimeout: lambda e, f: ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, ErrorReason.URL_FETCH_TIMEOUT, str(e),
                                        "image.uri"),
    FetchFailed: lambda e, f: invalid("image.uri", str(e), ErrorReason.URL_FETCH_FAILED),
    InferenceUnavailable: lambda e, f: ApiError(
        grpc.StatusCode.UNAVAILABLE, ErrorReason.INFERENCE_UNAVAILABLE,
        f"inference server unavailable, retry later: {e}"),
    # Administration (admin.proto, api/admin_*.py).
    SnapshotNotFound: lambda e, f: ApiError(grpc.StatusCode.NOT_FOUND, ErrorReason.SNAPSHOT_NOT_FOUND, str(e)),
    SnapshotCorrupt: lambda e, f: ApiError(
        grpc.StatusCode.DATA_LOSS, ErrorReason.SNAPSHOT_CORRUPT, f"{e}; nothing was changed: restore another snapshot"),
    ModelSetNotServed: lambda e, f: failed_precondition(
        ErrorReason.MODEL_SET_NOT_SERVED, f"{e}; nothing was changed: restore it on a server that serves that set",
        model_set=e.wanted.name),
    SnapshotExists: lambda e, f: ApiError(grpc.StatusCode.ALREADY_EXISTS, ErrorReason.SNAPSHOT_ALREADY_EXISTS, str(e),
                                          "snapshot_id"),
    SnapshotError: lambda e, f: failed_precondition(ErrorReason.STORE_UNSUPPORTED, str(e)),
    AliasNotFound: lambda e, f: ApiError(grpc.StatusCode.NOT_FOUND, ErrorReason.ALIAS_NOT_FOUND, str(e)),
    AliasExists: lambda e, f: ApiError(
        grpc.StatusCode.ALREADY_EXISTS, ErrorReason.ALIAS_ALREADY_EXISTS,
        f"{e}: aliases and collections share one namespace, pick another ID"),
    # A collection pinned to a score calibration this server lacks (scoring/registry.py):
    # part of the model set's version, so the model set's reason.
    CalibrationNotShipped: lambda e, f: failed_precondition(
        ErrorReason.MODEL_SET_NOT_SERVED, str(e), model_set=e.model_set, calibration=f"v{e.version}"),
    OriginalsNotKept: lambda e, f: failed_precondition(
        ErrorReason.ORIGINALS_NOT_KEPT,
        f"{e}: only collections created with keep_originals can be re-processed; re-insert its images into a "
        "collection created with keep_originals"),
}


def unary_errors(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[T]]:
    """Wraps a unary handler so every failure aborts the call with its mapped status."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> T:
        try:
            return await handler(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            await context.abort_with_status(as_api_error(exc).to_status())
            raise  # unreachable: abort raises

    return wrapper


def stream_errors(
    handler: Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[T]],
) -> Callable[[Any, Any, grpc.aio.ServicerContext], AsyncIterator[T]]:
    """Wraps a server-streaming handler the same way as unary_errors."""

    @functools.wraps(handler)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[T]:
        try:
            async for item in handler(self, request, context):
                yield item
        except grpc.aio.AbortError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes a status
            await context.abort_with_status(as_api_error(exc).to_status())

    return wrapper

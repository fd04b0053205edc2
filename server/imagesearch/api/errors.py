"""One place that turns failures into gRPC statuses a person can act on."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from imagesearch.fetch.fetcher import FetchFailed, FetchTimeout
from imagesearch.fetch.policy import FetchRefused
from imagesearch.inference.errors import InferenceUnavailable, InvalidImage
from imagesearch.store.base import CollectionExists, CollectionNotFound, InvalidCollectionName

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class ApiError(Exception):
    """A failure with the status code, message and (optionally) the request field to blame."""

    code: grpc.StatusCode
    message: str
    field: str = ""

    def __str__(self) -> str:
        return self.message

    def to_status(self) -> grpc.Status:
        """The rich status: code, message and a BadRequest detail naming the field."""
        proto = status_pb2.Status(code=self.code.value[0], message=self.message)
        if self.field:
            detail = any_pb2.Any()
            detail.Pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(field=self.field, description=self.message)
                    ]
                )
            )
            proto.details.append(detail)
        return rpc_status.to_status(proto)


def invalid(field: str, message: str) -> ApiError:
    """An INVALID_ARGUMENT error blaming `field`."""
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message, field)


def as_api_error(exc: BaseException, field: str = "") -> ApiError:
    """Maps any exception raised while serving to the status the client should see."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, InvalidCollectionName):
        return ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc), field or "collection")
    if isinstance(exc, CollectionNotFound):
        return ApiError(grpc.StatusCode.NOT_FOUND, str(exc))
    if isinstance(exc, CollectionExists):
        return ApiError(grpc.StatusCode.ALREADY_EXISTS, str(exc))
    if isinstance(exc, InvalidImage):
        return ApiError(grpc.StatusCode.INVALID_ARGUMENT, f"image could not be decoded: {exc}", "image")
    if isinstance(exc, FetchRefused):
        return ApiError(grpc.StatusCode.PERMISSION_DENIED, str(exc), "image_url")
    if isinstance(exc, FetchTimeout):
        return ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, str(exc), "image_url")
    if isinstance(exc, FetchFailed):
        return ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(exc), "image_url")
    if isinstance(exc, InferenceUnavailable):
        return ApiError(grpc.StatusCode.UNAVAILABLE, f"inference server unavailable, retry later: {exc}")
    log.exception("unexpected error while serving", exc_info=exc)
    return ApiError(grpc.StatusCode.INTERNAL, f"internal error ({type(exc).__name__}); see the server log")


def status_name(code: grpc.StatusCode) -> str:
    """The canonical name of a status code, e.g. "NOT_FOUND"."""
    return code_pb2.Code.Name(code.value[0])


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

"""The gRPC server interceptor that enforces API keys (docs/security.md, "Access control").

Order of checks, all before a handler runs (so before the store is touched, which keeps a
PERMISSION_DENIED from telling whether a collection exists): a key in `authorization:
Bearer <key>` metadata (API_KEY_MISSING), a live key (API_KEY_INVALID), then the RPC's role
on the collection the request names (PERMISSION_MISSING). Health and reflection stay open.
ListCollections answers only the collections the key may read.
"""

from __future__ import annotations

import logging
import re
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api.errors import ApiError
from imagesearch.auth.keys import ApiKey, KeyStore
from imagesearch.auth.scopes import METHOD_ROLES, SERVICE, Role, allows

log = logging.getLogger(__name__)
_COLLECTION = re.compile(r"^collections/([^/]+)")


def request_collection(request: Any) -> str | None:
    """The collection ID a request names (parent, name, collection_id or collection.name);
    None for requests that name none (ListCollections, the stateless image RPCs)."""
    fields = {f.name for f in request.DESCRIPTOR.fields}
    if "request" in fields:  # ImportItemsRequest wraps a CreateItemRequest
        return request_collection(request.request)
    if "collection_id" in fields:
        return request.collection_id
    for name in ("parent", "name"):
        if name in fields:
            match = _COLLECTION.match(getattr(request, name))
            return match.group(1) if match else ""
    if "collection" in fields:
        return request_collection(request.collection)
    for resource in ("item", "person", "face"):  # Update<Resource>Request: the resource names it
        if resource in fields and request.DESCRIPTOR.fields_by_name[resource].message_type is not None:
            return request_collection(getattr(request, resource))
    return None


def _bearer(metadata: tuple | None) -> str:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value[:7].lower() == "bearer ":
            return value[7:].strip()
    return ""


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Enforces keys whenever the store holds any (an empty store: every call passes)."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method or ""
        if handler is None or not method.startswith(SERVICE) or not self.keys.enforced:
            return handler  # health, reflection, unknown methods; or no keys configured
        role = METHOD_ROLES.get(method[len(SERVICE):], Role.ADMIN)  # a method added later: admin only
        token = _bearer(details.invocation_metadata)
        if not token:
            return _refusal(handler, ApiError(
                grpc.StatusCode.UNAUTHENTICATED, ErrorReason.API_KEY_MISSING,
                "this server requires an API key: send 'authorization: Bearer <key>' metadata"))
        key = self.keys.lookup(token)
        if key is None:
            return _refusal(handler, ApiError(
                grpc.StatusCode.UNAUTHENTICATED, ErrorReason.API_KEY_INVALID,
                "the API key is unknown, revoked or expired"))
        return _guarded(handler, key, role, method.endswith("/ListCollections"))


def _denied(key: ApiKey, role: Role, collection: str | None) -> ApiError:
    where = f"collection {collection!r}" if collection is not None else "any collection"
    return ApiError(
        grpc.StatusCode.PERMISSION_DENIED, ErrorReason.PERMISSION_MISSING,
        f"API key {key.name!r} lacks the {role.value!r} role on {where}", "", {"role": role.value})


def _check(key: ApiKey, role: Role, request: Any) -> ApiError | None:
    collection = request_collection(request)
    return None if allows(key.grants, role, collection) else _denied(key, role, collection)


def _refusal(handler: grpc.RpcMethodHandler, error: ApiError) -> grpc.RpcMethodHandler:
    """A handler of the same shape that only aborts with `error`."""
    async def abort(request: Any, context: grpc.aio.ServicerContext) -> Any:
        await context.abort_with_status(error.to_status())

    async def abort_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        # A response-streaming handler must be an async generator: grpc answers a plain
        # coroutine's abort with UNKNOWN (measured: tests/test_auth.py, search and import).
        await context.abort_with_status(error.to_status())
        yield  # unreachable: abort raises

    streams = handler.unary_stream is not None or handler.stream_stream is not None
    return _replace(handler, abort_stream if streams else abort)


def _guarded(handler: grpc.RpcMethodHandler, key: ApiKey, role: Role, lists: bool) -> grpc.RpcMethodHandler:
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if lists:
                response = await inner(request, context)
                kept = [c for c in response.collections if allows(key.grants, Role.READ, c.name.split("/", 1)[-1])]
                del response.collections[:]
                response.collections.extend(kept)
                return response
            if (error := _check(key, role, request)) is not None:
                await context.abort_with_status(error.to_status())
            return await inner(request, context)
        return _replace(handler, unary)
    if handler.unary_stream is not None:
        inner_us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if (error := _check(key, role, request)) is not None:
                await context.abort_with_status(error.to_status())
            async for response in inner_us(request, context):
                yield response
        return _replace(handler, unary_stream)
    inner_stream = handler.stream_stream or handler.stream_unary

    async def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for request in requests:
            if (error := _check(key, role, request)) is not None:
                await context.abort_with_status(error.to_status())
            yield request

    if handler.stream_stream is not None:
        async def stream_stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for response in inner_stream(checked(requests, context), context):
                yield response
        return _replace(handler, stream_stream)

    async def stream_unary(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        return await inner_stream(checked(requests, context), context)
    return _replace(handler, stream_unary)


def _replace(handler: grpc.RpcMethodHandler, behaviour: Callable) -> grpc.RpcMethodHandler:
    make = {
        "unary_unary": grpc.unary_unary_rpc_method_handler, "unary_stream": grpc.unary_stream_rpc_method_handler,
        "stream_unary": grpc.stream_unary_rpc_method_handler, "stream_stream": grpc.stream_stream_rpc_method_handler,
    }
    for kind, factory in make.items():
        if getattr(handler, kind) is not None:
            return factory(behaviour, request_deserializer=handler.request_deserializer,
                           response_serializer=handler.response_serializer)
    raise ValueError("a handler of no known kind")

"""The gRPC server interceptor that enforces API keys (docs/security.md, "Access control").

Order of checks, all before a handler runs (so before the store is touched, which keeps a
PERMISSION_DENIED from telling whether a collection exists): a key in `authorization:
Bearer <key>` metadata (API_KEY_MISSING), a live key (API_KEY_INVALID), then the RPC's role
on the collection the request names (PERMISSION_MISSING); the quotas (RESOURCE_EXHAUSTED,
imagesearch.auth.quotas) are taken when the call starts, before the role check. Health and reflection stay open. ListCollections answers only the
collections the key may read. Mutating calls, refused ones included, get an audit line.
"""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any, AsyncIterator, Awaitable, Callable

import grpc
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api.errors import ApiError
from imagesearch.auth.audit import AuditLog, mutating
from imagesearch.auth.calls import CallRecord, around, replace, streaming
from imagesearch.auth.keys import ApiKey, KeyStore
from imagesearch.auth.admin_scopes import admin_scope
from imagesearch.auth.quotas import QuotaExceeded, Quotas
from imagesearch.auth.scopes import ADMIN_METHOD_ROLES, COLLECTIONLESS, METHOD_ROLES, SERVICE_PACKAGE, Role, allows

log = logging.getLogger(__name__)
_COLLECTION = re.compile(r"^collections/([^/]+)")


def request_collection(request: Any) -> str | None:
    """The collection ID a request names: its `name`, `parent` or `collection_id`, or those of
    its `request`, `collection`, `item`, `person` or `face` message (ImportItems,
    UpdateCollection, UpdateItem, UpdatePerson, UpdateFace); "" for a name outside collections/ (matched by `*` grants only); None for
    requests that name none (ListCollections, the stateless image RPCs)."""
    fields = {f.name for f in request.DESCRIPTOR.fields}
    if "collection_id" in fields:
        return request.collection_id
    for name in ("parent", "name"):
        if name in fields:
            match = _COLLECTION.match(getattr(request, name))
            return match.group(1) if match else ""
    for name in ("request", "collection", "item", "person", "face"):
        if name in fields and request.DESCRIPTOR.fields_by_name[name].message_type is not None:
            return request_collection(getattr(request, name))
    return None


def _bearer(metadata: tuple | None) -> str:
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str) and value[:7].lower() == "bearer ":
            return value[7:].strip()
    return ""


def guarded_method(method: str) -> bool:
    """Every method of this server's own services (imagesearch.*): health and reflection
    are not, and stay open."""
    return method.startswith(SERVICE_PACKAGE)


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Enforces keys whenever the store holds any (an empty store: every call passes), then
    the quotas (when given), and writes the audit line of each mutating call (when given)."""

    def __init__(self, keys: KeyStore, quotas: Quotas | None = None, audit: AuditLog | None = None) -> None:
        self.keys = keys
        self.quotas = quotas
        self.audit = audit

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method or ""
        if handler is None or not guarded_method(method):
            return handler  # health, reflection, unknown methods
        name = method.rsplit("/", 1)[-1]
        key, refusal = self._authenticate(details.invocation_metadata)
        if refusal is not None:
            wrapped = _refusal(handler, refusal)
        else:
            # The role inside the quota: a stream holds its slot from its start (an idle
            # ImportItems too), and a key probing for collections spends its rate.
            wrapped = _guarded(handler, key, name) if key is not None else handler
            if self.quotas is not None:
                wrapped = around(wrapped, self._quota_scope(key, streaming(handler)))
        if self.audit is not None and mutating(name):
            wrapped = around(wrapped, self.audit.scope(method, key))
        return wrapped

    def _authenticate(self, metadata: tuple | None) -> tuple[ApiKey | None, ApiError | None]:
        """(the caller's key, None); (None, None) when no keys are configured; or (None, why not)."""
        if not self.keys.enforced:
            return None, None
        token = _bearer(metadata)
        if not token:
            return None, ApiError(
                grpc.StatusCode.UNAUTHENTICATED, ErrorReason.API_KEY_MISSING,
                "this server requires an API key: send 'authorization: Bearer <key>' metadata")
        key = self.keys.lookup(token)
        if key is None:
            return None, ApiError(
                grpc.StatusCode.UNAUTHENTICATED, ErrorReason.API_KEY_INVALID,
                "the API key is unknown, revoked or expired")
        return key, None

    def _quota_scope(self, key: ApiKey | None, streams: bool):
        quotas = self.quotas

        @contextlib.asynccontextmanager
        async def held(context: grpc.aio.ServicerContext, record: CallRecord) -> AsyncIterator[None]:
            try:
                if key is not None:
                    quotas.check_rate(key.key_id, key.name)
                release = quotas.acquire(key.key_id if key else None, key.name if key else "", streams)
            except QuotaExceeded as exc:
                await context.abort_with_status(exc.to_status())
            try:
                yield
            finally:
                release()
        return held


def _denied(key: ApiKey, role: Role, collection: str | None) -> ApiError:
    where = f"collection {collection!r}" if collection is not None else "any collection"
    return ApiError(
        grpc.StatusCode.PERMISSION_DENIED, ErrorReason.PERMISSION_MISSING,
        f"API key {key.name!r} lacks the {role.value!r} role on {where}", "", {"role": role.value})


def _check(key: ApiKey, role: Role, request: Any, method_name: str) -> ApiError | None:
    collections = admin_scope(request)  # admin requests may name several (auth/admin_scopes.py)
    if collections is None:
        collection = request_collection(request)
        if collection is None and method_name not in COLLECTIONLESS:
            collection = ""  # an RPC that should name a collection and does not: only `*` grants cover it
        collections = (collection,)
    for collection in collections:
        if not allows(key.grants, role, collection):
            return _denied(key, role, collection)
    return None


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
    return replace(handler, abort_stream if streams else abort)


def _guarded(handler: grpc.RpcMethodHandler, key: ApiKey, name: str) -> grpc.RpcMethodHandler:
    """`handler` behind the role check of RPC `name` (an RPC without a row: admin)."""
    role = METHOD_ROLES.get(name) or ADMIN_METHOD_ROLES.get(name, Role.ADMIN)
    lists = name == "ListCollections"
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if lists:  # read on some collection; the answer holds only those
                if not allows(key.grants, Role.READ, None):
                    await context.abort_with_status(_denied(key, Role.READ, None).to_status())
                response = await inner(request, context)
                kept = [c for c in response.collections if allows(key.grants, Role.READ, c.name.split("/", 1)[-1])]
                del response.collections[:]
                response.collections.extend(kept)
                return response
            if (error := _check(key, role, request, name)) is not None:
                await context.abort_with_status(error.to_status())
            return await inner(request, context)
        return replace(handler, unary)
    if handler.unary_stream is not None:
        inner_us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if (error := _check(key, role, request, name)) is not None:
                await context.abort_with_status(error.to_status())
            async for response in inner_us(request, context):
                yield response
        return replace(handler, unary_stream)
    inner_stream = handler.stream_stream or handler.stream_unary

    async def checked(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        async for request in requests:
            if (error := _check(key, role, request, name)) is not None:
                await context.abort_with_status(error.to_status())
            yield request

    if handler.stream_stream is not None:
        async def stream_stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            # The first request is checked before the handler starts: a refusal then ends the
            # call cleanly, not from inside the handler's task group (logged as an error).
            iterator = requests.__aiter__()
            try:
                first = await iterator.__anext__()
            except StopAsyncIteration:
                return
            if (error := _check(key, role, first, name)) is not None:
                await context.abort_with_status(error.to_status())
            async for response in inner_stream(checked(_chain(first, iterator), context), context):
                yield response
        return replace(handler, stream_stream)

    async def stream_unary(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        return await inner_stream(checked(requests, context), context)
    return replace(handler, stream_unary)


async def _chain(first: Any, rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    yield first
    async for item in rest:
        yield item

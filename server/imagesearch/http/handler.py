"""The aiohttp handler that turns one HTTP request into one gRPC call on the server's own
port and its answer (or status) into JSON.

Going through a real channel, rather than calling the servicer in-process, means every
interceptor (metrics today, API-key auth next) sees HTTP callers exactly as gRPC ones.
"""

from __future__ import annotations

import logging
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.message import Message
from imagesearch_client.v1.error_reason_pb2 import ErrorReason

from imagesearch.api.errors import ApiError
from imagesearch.http.errors import (
    HttpError,
    json_bytes,
    status_json,
    status_of_rpc_error,
)
from imagesearch.http.routes import Route, RouteMatch, RouteTable
from imagesearch.http.transcode import (
    FilePart,
    HttpInput,
    build_request,
    message_class,
    response_json,
)

log = logging.getLogger(__name__)

JSON = "application/json"
NDJSON = "application/x-ndjson"
# Forwarded as gRPC metadata, so the server's auth sees the same credentials either way.
AUTHORIZATION = "authorization"


class Transcoder:
    """Serves every route of `routes` by calling its RPC over `channel`."""

    def __init__(self, routes: RouteTable, channel: grpc.aio.Channel, max_body_bytes: int) -> None:
        self.routes = routes
        self.channel = channel
        self.max_body_bytes = max_body_bytes
        self._callables: dict[str, Any] = {}

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            match = self._match(request)
            message = build_request(match, await _read_input(request, match.route, self.max_body_bytes))
            metadata = forwarded_metadata(request.headers)
            if match.route.server_streaming:
                return await self._stream(request, match.route, message, metadata)
            response = await self._callable(match.route)(message, metadata=metadata)
            return _json_response(200, response_json(response, match.route.response_body))
        except HttpError as exc:
            return _json_response(exc.http_status, exc.body())
        except grpc.RpcError as exc:
            return _json_response(*_error_json(exc))
        except Exception:
            log.exception("HTTP %s %s failed", request.method, request.path)
            error = ApiError(grpc.StatusCode.INTERNAL, ErrorReason.INTERNAL_ERROR, "internal error; see the server log")
            return _json_response(500, HttpError.from_api_error(error).body())

    def _match(self, request: web.Request) -> RouteMatch:
        raw_path = request.raw_path.split("?", 1)[0]
        found = self.routes.find(request.method, raw_path)
        if found is None:
            raise HttpError.plain(404, grpc.StatusCode.NOT_FOUND, f"no API method at {raw_path}")
        if found == "method":
            raise HttpError.plain(405, grpc.StatusCode.UNIMPLEMENTED, f"{request.method} is not allowed on {raw_path}")
        return found

    def _callable(self, route: Route):
        found = self._callables.get(route.grpc_path)
        if found is None:
            kind = self.channel.unary_stream if route.server_streaming else self.channel.unary_unary
            found = kind(
                route.grpc_path,
                request_serializer=message_class(route.method.input_type).SerializeToString,
                response_deserializer=message_class(route.method.output_type).FromString,
            )
            self._callables[route.grpc_path] = found
        return found

    async def _stream(
        self, request: web.Request, route: Route, message: Message, metadata: tuple
    ) -> web.StreamResponse:
        """A server stream: one JSON array once the stream has ended (an error anywhere
        is the response's status); or, with `Accept: application/x-ndjson`, one JSON line
        per message as it arrives. The HTTP status waits for the first message, so an
        error before it is a real error status; a later error is the last line,
        {"error": {...}}, as grpc-gateway does."""
        call = self._callable(route)(message, metadata=metadata)
        try:
            if NDJSON not in request.headers.get("Accept", ""):
                items = [response_json(m, route.response_body) async for m in call]
                return _json_response(200, items)
            stream = call.__aiter__()
            try:
                first = await stream.__anext__()
            except StopAsyncIteration:
                first = None
            response = web.StreamResponse(status=200, headers={"Content-Type": NDJSON})
            await response.prepare(request)
            try:
                if first is not None:
                    await response.write(json_bytes(response_json(first, route.response_body)))
                    try:
                        async for item in stream:
                            await response.write(json_bytes(response_json(item, route.response_body)))
                    except grpc.RpcError as exc:
                        await response.write(json_bytes(_error_json(exc)[1]))
                await response.write_eof()
            except ConnectionResetError:
                log.debug("client left during %s", route.grpc_path)
            return response
        finally:
            call.cancel()  # a no-op once the stream has ended; stops it when the client left


def forwarded_metadata(headers) -> tuple[tuple[str, str], ...]:
    """`Authorization` as is, else `X-API-Key: k` as `authorization: Bearer k`."""
    value = headers.get("Authorization") or (f"Bearer {headers['X-API-Key']}" if headers.get("X-API-Key") else "")
    if not value:
        return ()
    if not value.isascii() or not value.isprintable():
        raise HttpError.plain(400, grpc.StatusCode.INVALID_ARGUMENT, "the credentials header is not printable ASCII")
    return ((AUTHORIZATION, value),)


async def _read_input(request: web.Request, route: Route, max_body_bytes: int) -> HttpInput:
    """Query parameters and, for a route with a body, the body: multipart parts or the
    raw bytes of a JSON body (whatever the Content-Type says: `curl -d` sends
    application/x-www-form-urlencoded by default)."""
    query = [(k, v) for k, v in request.rel_url.query.items()]
    if not route.body:
        return HttpInput(query=query)
    multipart = request.content_type == "multipart/form-data"
    try:
        if multipart:
            form_fields, files = [], []
            for name, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files.append(FilePart(name, value.file.read()))
                else:
                    form_fields.append((name, value))
            return HttpInput(query=query, form_fields=form_fields, files=files)
        return HttpInput(query=query, json_body=await request.read())
    except web.HTTPRequestEntityTooLarge as exc:
        hint = "" if multipart else " (send images as multipart/form-data files: base64 JSON is a third larger)"
        raise HttpError.plain(
            413, grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"the request body is larger than the server's message limit of {max_body_bytes} bytes{hint}",
        ) from exc


def _error_json(exc: grpc.RpcError) -> tuple[int, dict]:
    http_status, status = status_of_rpc_error(exc)
    return http_status, status_json(http_status, status)


def _json_response(status: int, value: object) -> web.Response:
    return web.Response(status=status, body=json_bytes(value), content_type=JSON)

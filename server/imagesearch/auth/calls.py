"""Wrapping a gRPC method handler of any of the four kinds in a scope that sees the call:
the quota slot and the audit line (imagesearch.auth.interceptor) share this."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import grpc


@dataclass
class CallRecord:
    """What a scope may know of its call: the first request (streams: once it arrived) and
    how many requests came."""

    first: Any = None
    count: int = 0

    def saw(self, request: Any) -> None:
        if self.count == 0:
            self.first = request
        self.count += 1


# A scope: an async context manager entered before the handler runs and left after it
# ended, however it ended (an exception, an abort, a cancelled call).
Scope = Callable[[grpc.aio.ServicerContext, CallRecord], contextlib.AbstractAsyncContextManager]


def streaming(handler: grpc.RpcMethodHandler) -> bool:
    """True for the three streaming kinds."""
    return handler.unary_unary is None


def around(handler: grpc.RpcMethodHandler, scope: Scope) -> grpc.RpcMethodHandler:
    """A handler of the same kind that runs `handler` inside `scope`."""
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
            record = CallRecord()
            record.saw(request)
            async with scope(context, record):
                return await inner(request, context)
        return replace(handler, unary)
    if handler.unary_stream is not None:
        inner_us = handler.unary_stream

        async def unary_stream(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            record = CallRecord()
            record.saw(request)
            async with scope(context, record):
                async for response in inner_us(request, context):
                    yield response
        return replace(handler, unary_stream)
    inner_stream = handler.stream_stream or handler.stream_unary

    async def tapped(requests: AsyncIterator[Any], record: CallRecord) -> AsyncIterator[Any]:
        async for request in requests:
            record.saw(request)
            yield request

    if handler.stream_stream is not None:
        async def stream_stream(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            record = CallRecord()
            async with scope(context, record):
                async for response in inner_stream(tapped(requests, record), context):
                    yield response
        return replace(handler, stream_stream)

    async def stream_unary(requests: AsyncIterator[Any], context: grpc.aio.ServicerContext) -> Any:
        record = CallRecord()
        async with scope(context, record):
            return await inner_stream(tapped(requests, record), context)
    return replace(handler, stream_unary)


def replace(handler: grpc.RpcMethodHandler, behaviour: Callable) -> grpc.RpcMethodHandler:
    """A handler of `handler`'s kind and serializers with another behaviour."""
    make = {
        "unary_unary": grpc.unary_unary_rpc_method_handler, "unary_stream": grpc.unary_stream_rpc_method_handler,
        "stream_unary": grpc.stream_unary_rpc_method_handler, "stream_stream": grpc.stream_stream_rpc_method_handler,
    }
    for kind, factory in make.items():
        if getattr(handler, kind) is not None:
            return factory(behaviour, request_deserializer=handler.request_deserializer,
                           response_serializer=handler.response_serializer)
    raise ValueError("a handler of no known kind")

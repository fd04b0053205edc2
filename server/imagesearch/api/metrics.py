"""Per-RPC counts and latencies, recorded by a server interceptor, served for Prometheus."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from imagesearch.api.errors import status_name

# Latency buckets from a cached search (~ms) to a slow stream (minutes).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class RpcMetrics:
    """The metric families of one server, in their own registry (no global state)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.handled = Counter(
            "imagesearch_rpc_handled_total", "RPCs completed, by method and status code",
            ["method", "code"], registry=registry,
        )
        self.latency = Histogram(
            "imagesearch_rpc_duration_seconds", "Time from the start of an RPC to its end, by method",
            ["method"], buckets=LATENCY_BUCKETS, registry=registry,
        )
        self.in_flight = Gauge(
            "imagesearch_rpc_in_flight", "RPCs being served now, by method", ["method"], registry=registry
        )

    def observe(self, method: str, code: grpc.StatusCode, seconds: float) -> None:
        """Records one finished RPC."""
        self.handled.labels(method, status_name(code)).inc()
        self.latency.labels(method).observe(seconds)


def _final_code(context: grpc.aio.ServicerContext, error: BaseException | None) -> grpc.StatusCode:
    code = context.code()
    if code is not None:
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler to count it and time it, streaming ones included."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        method = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(method, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(method, handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            self._wrap_stream(method, handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    @contextlib.contextmanager
    def _observed(self, method: str, context: grpc.aio.ServicerContext) -> Iterator[None]:
        """Counts the RPC in flight while the body runs, then records its outcome and time."""
        start, error = time.perf_counter(), None
        self._metrics.in_flight.labels(method).inc()
        try:
            yield
        except BaseException as exc:
            error = exc
            raise
        finally:
            self._metrics.in_flight.labels(method).dec()
            self._metrics.observe(method, _final_code(context, error), time.perf_counter() - start)

    def _wrap_unary(self, method: str, behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
            with self._observed(method, context):
                return await behavior(request, context)

        return wrapped

    def _wrap_stream(self, method: str, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            with self._observed(method, context):
                async for response in behavior(request, context):
                    yield response

        return wrapped

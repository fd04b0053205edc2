"""Sends an API key as `authorization: Bearer <key>` metadata on every call.

Metadata rather than grpc call credentials: those are refused on a plaintext channel,
and the loopback server of the quick start is plaintext.
"""

from __future__ import annotations

import collections
from typing import Any

import grpc

_Details = collections.namedtuple(
    "_Details", ("method", "timeout", "metadata", "credentials", "wait_for_ready", "compression")
)


def bearer(api_key: str) -> tuple[str, str]:
    return ("authorization", f"Bearer {api_key}")


class KeyInterceptor(
    grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor,
):
    """For the blocking client's channel (grpc.intercept_channel)."""

    def __init__(self, api_key: str) -> None:
        self._pair = bearer(api_key)

    def _details(self, details: Any) -> _Details:
        metadata = [*(details.metadata or ()), self._pair]
        return _Details(details.method, details.timeout, metadata, details.credentials,
                        getattr(details, "wait_for_ready", None), getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation, details, requests):
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation, details, requests):
        return continuation(self._details(details), requests)


def _aio_details(details: grpc.aio.ClientCallDetails, pair: tuple[str, str]) -> grpc.aio.ClientCallDetails:
    metadata = grpc.aio.Metadata(*(details.metadata or ()), pair)
    return grpc.aio.ClientCallDetails(details.method, details.timeout, metadata, details.credentials,
                                      details.wait_for_ready)


class AioUnaryUnary(grpc.aio.UnaryUnaryClientInterceptor):
    def __init__(self, api_key: str) -> None:
        self._pair = bearer(api_key)

    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(_aio_details(details, self._pair), request)


class AioUnaryStream(grpc.aio.UnaryStreamClientInterceptor):
    def __init__(self, api_key: str) -> None:
        self._pair = bearer(api_key)

    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(_aio_details(details, self._pair), request)


class AioStreamUnary(grpc.aio.StreamUnaryClientInterceptor):
    def __init__(self, api_key: str) -> None:
        self._pair = bearer(api_key)

    async def intercept_stream_unary(self, continuation, details, requests):
        return await continuation(_aio_details(details, self._pair), requests)


class AioStreamStream(grpc.aio.StreamStreamClientInterceptor):
    def __init__(self, api_key: str) -> None:
        self._pair = bearer(api_key)

    async def intercept_stream_stream(self, continuation, details, requests):
        return await continuation(_aio_details(details, self._pair), requests)


def aio_interceptors(api_key: str) -> list:
    return [cls(api_key) for cls in (AioUnaryUnary, AioUnaryStream, AioStreamUnary, AioStreamStream)]

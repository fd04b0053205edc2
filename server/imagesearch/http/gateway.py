"""The HTTP/JSON gateway's lifecycle: an aiohttp site beside the gRPC server, forwarding to
it over a loopback channel; plus /openapi.json and /healthz."""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

import grpc
from aiohttp import web
from google.protobuf.descriptor import ServiceDescriptor
from grpc_health.v1 import health_pb2

from imagesearch.http.comments import Comments
from imagesearch.http.errors import json_bytes
from imagesearch.http.handler import JSON, Transcoder
from imagesearch.http.openapi import build_openapi, default_services
from imagesearch.http.routes import RouteTable

log = logging.getLogger(__name__)

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class GatewayConfig:
    """Where the gateway listens and what it forwards to."""

    host: str
    port: int  # 0: any free port (see HttpGateway.port once started)
    grpc_target: str  # host:port of the gRPC server, or unix:PATH (with TLS, see imagesearch.auth.tls)
    max_body_bytes: int  # the gRPC message limit, applied to HTTP bodies too
    shutdown_grace_s: float
    # HTTPS with the gRPC port's certificate (and client CA: mutual TLS); None: plain HTTP.
    ssl_context: ssl.SSLContext | None = None


def grpc_target(listen_host: str, port: int) -> str:
    """A dialable address of a server listening on `listen_host` (a wildcard means loopback)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}.get(listen_host, listen_host)
    return f"{host}:{port}"


class HttpGateway:
    """Serves `services` as HTTP/JSON (their google.api.http rules) until `stop()`."""

    def __init__(self, config: GatewayConfig, services: list[ServiceDescriptor] | None = None) -> None:
        self.config = config
        self.services = services or default_services()
        self.port: int | None = None
        self._channel: grpc.aio.Channel | None = None
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Binds the port (OSError when taken) and serves; returns the bound port."""
        c = self.config
        options = [("grpc.max_receive_message_length", c.max_body_bytes),
                   ("grpc.max_send_message_length", c.max_body_bytes)]
        self._channel = grpc.aio.insecure_channel(c.grpc_target, options=options)
        transcoder = Transcoder(RouteTable.from_services(*self.services), self._channel, c.max_body_bytes)
        files = sorted({s.file for s in self.services}, key=lambda f: f.name)
        openapi = json_bytes(build_openapi(self.services, Comments.load(files)))

        app = web.Application(client_max_size=c.max_body_bytes)
        async def openapi_json(_: web.Request) -> web.Response:
            return web.Response(body=openapi, content_type=JSON)

        app.router.add_get("/openapi.json", openapi_json)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_route("*", "/{tail:.*}", transcoder.handle)
        # No access log: calls are counted by the gRPC metrics interceptor like any other.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=c.shutdown_grace_s)
        await self._runner.setup()
        site = web.TCPSite(self._runner, c.host, c.port, ssl_context=c.ssl_context)
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        self.port = self._runner.addresses[0][1]
        log.info("serving HTTP/JSON on %s://%s:%d (OpenAPI at /openapi.json)",
                 "https" if c.ssl_context else "http", c.host, self.port)
        return self.port

    async def _healthz(self, _: web.Request) -> web.Response:
        check = self._channel.unary_unary(
            HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = await check(health_pb2.HealthCheckRequest(service=""), timeout=HEALTH_TIMEOUT_S)
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as exc:
            status = "NOT_SERVING"
            log.debug("health check failed: %s", exc)
        return web.Response(status=200 if status == "SERVING" else 503, body=json_bytes({"status": status}),
                            content_type=JSON)

    async def stop(self) -> None:
        """Stops accepting, lets in-flight requests finish (up to shutdown_grace_s), closes
        the channel. Call it before stopping the gRPC server the requests go to."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close()

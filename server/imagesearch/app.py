"""The server process: starts Triton (or connects to one), opens the store, serves gRPC,
watches its dependencies, and shuts everything down in order on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import CollectorRegistry, start_http_server

from imagesearch.api.context import FACES_NEED_EMBEDDED_STORE, NO_FACE_MODEL
from imagesearch.api.metrics import MetricsInterceptor, RpcMetrics
from imagesearch_client.v1 import imagesearch_pb2, imagesearch_pb2_grpc

from imagesearch.api.admin_service import ADMIN_SERVICE_NAME, add_admin_service
from imagesearch.api.service import ImageSearchService, ServiceLimits
from imagesearch.auth.audit import AuditLog
from imagesearch.auth.interceptor import AuthInterceptor
from imagesearch.auth.keys import KeyStore
from imagesearch.auth.listeners import GatewaySocket, bind_api, start_health_port
from imagesearch.auth.quotas import Quotas, QuotaSettings
from imagesearch.auth.startup import check_listen
from imagesearch.auth.tls import TlsFiles
from imagesearch.config import Settings
from imagesearch.models.dlib_faces import face_model_present
from imagesearch.faces.manager import FaceManager, FaceSettings
from imagesearch.inference.faces import FACE_MODEL, FaceDetector
from imagesearch.inference.ocr import OCR_MODEL, OcrReader
from imagesearch.models.ppocr import ocr_model_present
from imagesearch.store.faces import FaceStore, open_face_vectors
from imagesearch.store.people_file import PeopleFiles
from imagesearch.fetch.fetcher import FetchLimits, UrlFetcher
from imagesearch.fetch.policy import AddressPolicy
from imagesearch.http import GatewayConfig, HttpGateway, grpc_target
from imagesearch.inference.errors import InferenceUnavailable
from imagesearch.inference.model_sets import ServedModelSet, bind_model_set
from imagesearch.inference.nsfw import NSFW_MODEL, NsfwScorer
from imagesearch.launcher.triton import TritonLaunchConfig, TritonProcess, free_port
from imagesearch.models.model_sets import DEFAULT_MODEL_SET, MODEL_SETS, ModelSetSpec
from imagesearch.models.setup import ensure_model_repository
from imagesearch.store.base import VectorStore
from imagesearch.store.datadir_lock import DataDirLock
from imagesearch.store.factory import index_settings, open_store

log = logging.getLogger(__name__)

SERVICE_NAME = imagesearch_pb2.DESCRIPTOR.services_by_name["ImageSearchService"].full_name
WATCH_INTERVAL_S = 2.0


def start_metrics_http(settings: Settings, registry: CollectorRegistry) -> tuple[object, object]:
    """Serve /metrics on settings.metrics_bind_host (the API's host unless metrics_host says
    otherwise; it used to be every interface); returns prometheus_client's (server, thread)."""
    return start_http_server(settings.metrics_port, addr=settings.metrics_bind_host, registry=registry)


@dataclass
class _Running:
    """What a started server holds, released in reverse order on stop."""

    grpc_server: grpc.aio.Server
    health: health.aio.HealthServicer
    model_sets: dict[str, ServedModelSet]
    nsfw: NsfwScorer
    store: VectorStore
    fetcher: UrlFetcher
    triton: TritonProcess | None
    metrics_http: object | None
    watcher: asyncio.Task
    http: HttpGateway | None  # the HTTP/JSON gateway (None when http_port is 0)
    faces: FaceManager | None = None  # None without the face model or with a remote Qdrant
    ocr: OcrReader | None = None  # None without the OCR model
    health_server: grpc.aio.Server | None = None  # the plaintext health port (health_port), if any


class ImageSearchServer:
    """One imagesearch server: call `run()` to serve until SIGTERM/SIGINT."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.port: int | None = None
        self.http_port: int | None = None
        self._running: _Running | None = None
        self._data_lock: DataDirLock | None = None
        self._keys: KeyStore | None = None
        self._tls: TlsFiles | None = None
        self._gateway = GatewaySocket()  # with TLS: the gateway's private Unix socket

    def _local_triton(self) -> TritonProcess:
        s = self.settings
        ensure_model_repository(s.model_repository)
        # Every served set's models, plus the NSFW scorer every insert calls, and the face
        # model where `imagesearch models setup` placed it.
        models = [m for spec in self._local_model_sets() for m in spec.triton_models] + [NSFW_MODEL]
        if face_model_present(s.model_repository):
            models.append(FACE_MODEL)
        if ocr_model_present(s.model_repository):
            models.append(OCR_MODEL)
        return TritonProcess(
            TritonLaunchConfig(
                model_repository=s.model_repository,
                grpc_port=s.triton_grpc_port or free_port(),
                http_port=free_port(),
                metrics_port=free_port(),
                work_dir=s.data_dir / "triton",
                models=tuple(dict.fromkeys(models)),
            )
        )

    def _local_model_sets(self) -> list[ModelSetSpec]:
        """The default set, plus every other set whose models are in the local repository
        (the CLIP set exists only after `imagesearch models export-clip`)."""
        repo = self.settings.model_repository
        return [
            spec
            for spec in MODEL_SETS.values()
            if spec.name == DEFAULT_MODEL_SET or all((repo / m / "config.pbtxt").exists() for m in spec.triton_models)
        ]

    async def start(self) -> None:
        """Starts every part; returns once the gRPC port accepts calls."""
        s = self.settings
        # Refused before anything starts: no keys and a non-loopback address (docs/security.md).
        self._keys = KeyStore(s.api_keys_path)
        check_listen(s.listen, self._keys, s.insecure_no_auth)
        self._tls = TlsFiles.from_settings(s)  # TlsConfigError before anything starts
        if self._tls is not None:
            self._tls.ssl_context()  # reads and checks the files now, not at the first HTTPS call
        if not self._keys.enforced:
            log.warning("no API keys in %s: every caller may do anything (loopback or --insecure-no-auth)",
                        s.api_keys_path)
        # Before Triton writes under data_dir and the store's recovery deletes there: a
        # second server on the same directory stops here (DataDirLocked names the first).
        self._data_lock = DataDirLock.acquire(s.data_dir)
        triton = self._local_triton() if s.local_triton else None
        try:
            if triton is not None:
                log.info("starting tritonserver (log: %s)", triton.log_path)
                await triton.start()
                await triton.wait_ready(s.triton_start_timeout_s)
            await self._start_serving(triton)
        except BaseException:
            # A half-started server must not leave an orphaned Triton behind.
            if triton is not None:
                await triton.stop()
            self._release_data_dir()
            raise

    async def _start_serving(self, triton: TritonProcess | None) -> None:
        s = self.settings
        url = triton.url if triton else s.triton_url
        model_sets = await self._bind_model_sets(url)
        nsfw = NsfwScorer(url, timeout_s=s.inference_timeout_s)
        store = open_store(
            s.data_dir, s.qdrant_url or None, s.qdrant_api_key or None, index=index_settings(s),
            qdrant_shard_number=s.qdrant_shard_number, qdrant_replication_factor=s.qdrant_replication_factor,
            qdrant_cache_ttl_s=s.qdrant_cache_ttl_s,
        )
        faces = await self._open_faces(url, store)
        ocr = await self._open_ocr(url)
        service = ImageSearchService(
            store,
            model_sets,
            DEFAULT_MODEL_SET,
            ServiceLimits(s.max_image_pixels, s.insert_concurrency, max_collections=s.max_collections,
                          duplicate_claim_lease_s=s.duplicate_claim_lease_s, decode_concurrency=s.decode_concurrency),
            UrlFetcher(
                AddressPolicy.parse(s.url_allow_hosts),
                FetchLimits(max_bytes=s.url_max_mb * 1_000_000, timeout_s=s.url_timeout_s,
                            max_redirects=s.url_max_redirects),
            ),
            nsfw,
            faces,
            ocr,
            FACES_NEED_EMBEDDED_STORE if s.qdrant_url else NO_FACE_MODEL,
        )
        metrics = RpcMetrics(CollectorRegistry())
        server, health_servicer = self._grpc_server(service, metrics)
        # Until the watcher's first check, nobody may be told SERVING (the default of "").
        await self._set_health(health_servicer, False)
        self.port = bind_api(server, s.listen, self._tls)
        gateway_target = self._gateway.bind(server) if self._tls and s.http_port else None
        await server.start()
        metrics_http = start_metrics_http(s, metrics.registry) if s.metrics_port else None
        try:
            http, health_server = await self._start_http_side(gateway_target, health_servicer)
        except BaseException:
            await server.stop(None)
            if metrics_http is not None:
                metrics_http[0].shutdown()
            raise
        watcher = asyncio.create_task(self._watch(health_servicer, model_sets, nsfw, triton))
        self._running = _Running(
            server, health_servicer, model_sets, nsfw, store, service.ctx.fetcher, triton, metrics_http, watcher,
            http, faces, ocr, health_server,
        )
        log.info("serving imagesearch.v1 on %s (port %d, %s)", s.listen, self.port,
                 "plaintext" if self._tls is None else "mutual TLS" if self._tls.mutual else "TLS")

    def _grpc_server(
        self, service: ImageSearchService, metrics: RpcMetrics
    ) -> tuple[grpc.aio.Server, health.aio.HealthServicer]:
        """The gRPC server with its interceptors (metrics, then auth, quotas and audit), the
        API, admin and health services and, when on, reflection; not bound yet."""
        s = self.settings
        server = grpc.aio.server(
            interceptors=[
                MetricsInterceptor(metrics),
                AuthInterceptor(self._keys, Quotas(QuotaSettings.from_settings(s)), AuditLog()),
            ],
            options=[
                ("grpc.max_receive_message_length", s.max_message_bytes),
                ("grpc.max_send_message_length", s.max_message_bytes),
            ],
        )
        imagesearch_pb2_grpc.add_ImageSearchServiceServicer_to_server(service, server)
        add_admin_service(service.ctx, self._keys, server)
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        if s.reflection:
            reflection.enable_server_reflection(
                (SERVICE_NAME, ADMIN_SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                 reflection.SERVICE_NAME),
                server,
            )
        return server, health_servicer

    async def _start_http_side(
        self, gateway_target: str | None, health_servicer: health.aio.HealthServicer
    ) -> tuple[HttpGateway | None, grpc.aio.Server | None]:
        """The HTTP/JSON gateway (imagesearch.http) and the plain health port, when on. The
        gateway forwards to the gRPC port, so it starts after gRPC, and before the watcher
        may report SERVING (clients wait for that). Stops what it started if one fails."""
        s = self.settings
        http = None
        try:
            http = await self._start_http(gateway_target)
            health_server = await start_health_port(health_servicer, s.listen, s.health_port) if s.health_port else None
        except BaseException:
            if http is not None:
                await http.stop()
            raise
        return http, health_server

    async def _open_ocr(self, url: str) -> OcrReader | None:
        """The OCR reader, or None when Triton does not serve the ocr model."""
        ocr = OcrReader(url, timeout_s=self.settings.ocr_timeout_s)
        if not await ocr.is_ready():
            log.info("OCR: off (no ocr model in Triton)")
            await ocr.close()
            return None
        return ocr

    async def _open_faces(self, url: str, store: VectorStore) -> FaceManager | None:
        """Faces and people (docs/faces.md), when Triton serves the face model and the items
        live in the embedded store (face vectors are kept beside them, in data_dir/faces)."""
        s = self.settings
        detector = FaceDetector(url, timeout_s=s.inference_timeout_s)
        if s.qdrant_url or not await detector.is_ready():
            await detector.close()
            log.info("faces: off (%s)", "remote Qdrant" if s.qdrant_url else "no face model in Triton")
            return None
        vectors = open_face_vectors(s.data_dir, s.index_threshold, s.index_quantization)
        faces = FaceManager(FaceStore(vectors), PeopleFiles(s.data_dir), detector, FaceSettings.from_settings(s))
        pruned = await faces.prune({c.name for c in await store.list_collections()})
        if pruned:
            log.warning("faces: removed the faces of deleted collections %s", pruned)
        return faces

    async def _start_http(self, target: str | None) -> HttpGateway | None:
        """The HTTP/JSON gateway on http_port (0: none), on the host gRPC listens on; HTTPS
        with the gRPC port's certificate when TLS is on."""
        s = self.settings
        if not s.http_port:
            return None
        host = s.listen.rsplit(":", 1)[0]
        gateway = HttpGateway(GatewayConfig(
            host.strip("[]"), s.http_port, target or grpc_target(host, self.port), s.max_message_bytes,
            s.shutdown_grace_s, self._tls.ssl_context() if self._tls else None,
        ))
        self.http_port = await gateway.start()
        return gateway

    async def _bind_model_sets(self, url: str) -> dict[str, ServedModelSet]:
        """Every model set Triton serves, by name; the default set is required.

        Waits for an external Triton that is still starting (the default set's models);
        other sets whose models Triton lacks are skipped with a log line.
        """
        deadline = time.monotonic() + self.settings.triton_start_timeout_s
        timeout_s = self.settings.inference_timeout_s
        while True:
            try:
                bound = {DEFAULT_MODEL_SET: await bind_model_set(MODEL_SETS[DEFAULT_MODEL_SET], url, timeout_s)}
                break
            except InferenceUnavailable as exc:
                if time.monotonic() > deadline:
                    raise
                log.warning("waiting for Triton at %s: %s", self.settings.triton_url or "local", exc)
                await asyncio.sleep(WATCH_INTERVAL_S)
        for spec in MODEL_SETS.values():
            if spec.name in bound:
                continue
            try:
                bound[spec.name] = await bind_model_set(spec, url, timeout_s)
            except InferenceUnavailable as exc:
                log.info("not serving model set %s (%s); to serve it: %s", spec.name, exc, spec.setup_hint)
        for served in bound.values():
            for space in served.record.spaces:
                log.info(
                    "model set %s, space %s: %s v%s, %d-d",
                    served.spec.name, space.name, space.model.name, space.model.version, space.model.dimension,
                )
        return bound

    async def _set_health(self, servicer: health.aio.HealthServicer, serving: bool) -> None:
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME, ADMIN_SERVICE_NAME):
            await servicer.set(name, status)

    async def _watch(
        self,
        servicer: health.aio.HealthServicer,
        model_sets: dict[str, ServedModelSet],
        nsfw: NsfwScorer,
        triton: TritonProcess | None,
    ) -> None:
        """Keeps the health status true to Triton's, and restarts a local Triton that died."""
        serving: bool | None = None
        while True:
            if triton is not None and not triton.running:
                log.error("tritonserver exited (code %s); restarting it", triton.returncode)
                await self._set_health(servicer, False)
                serving = False
                try:
                    await triton.start()
                    await triton.wait_ready(self.settings.triton_start_timeout_s)
                except Exception:  # noqa: BLE001 - keep trying; health stays NOT_SERVING
                    log.exception("restarting tritonserver failed")
            ready = all([await served.is_ready() for served in model_sets.values()]) and await nsfw.is_ready()
            if ready != serving:
                log.log(logging.INFO if ready else logging.ERROR, "health: %s", "SERVING" if ready else "NOT_SERVING")
                await self._set_health(servicer, ready)
                serving = ready
            await asyncio.sleep(WATCH_INTERVAL_S)

    async def stop(self) -> None:
        """Drains in-flight calls (up to shutdown_grace_s), then stops the store and Triton."""
        running, self._running = self._running, None
        if running is None:
            return
        running.watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running.watcher
        await running.health.enter_graceful_shutdown()
        if running.http is not None:  # HTTP/JSON gateway: drains its calls while gRPC still serves them
            await running.http.stop()
        await running.grpc_server.stop(self.settings.shutdown_grace_s)
        if running.health_server is not None:
            await running.health_server.stop(None)
        if running.metrics_http is not None:
            running.metrics_http[0].shutdown()
        await running.store.close()
        await running.fetcher.close()
        for served in running.model_sets.values():
            await served.close()
        await running.nsfw.close()
        if running.faces is not None:
            await running.faces.close()
            await running.faces.detector.close()
        if running.ocr is not None:
            await running.ocr.close()
        if running.triton is not None:
            await running.triton.stop()
        self._release_data_dir()
        log.info("stopped")

    def _release_data_dir(self) -> None:
        self._gateway.remove()
        if self._data_lock is not None:
            self._data_lock.release()
            self._data_lock = None

    async def run(self) -> None:
        """Starts, serves until SIGTERM or SIGINT, then stops cleanly."""
        stop_requested = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop_requested.set)
        try:
            await self.start()
            await stop_requested.wait()
            log.info("shutdown requested: draining in-flight calls")
        finally:
            await self.stop()

"""Shared fixtures: real server processes, real Triton, real photos from ../shared/datasets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imagesearch_client import ImageSearchClient, InsertItem, InsertOutcome

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASETS = REPO_ROOT.parent / "shared" / "datasets"
COREL = DATASETS / "corel1k"
SERVER_START_TIMEOUT_S = 300
COREL_COLLECTION = "corel"
COREL_SIZE = 1000


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def corel_path(index: int) -> Path:
    """Path of Corel-1K image `index` (its class is index // 100)."""
    return COREL / f"{index}.jpg"


@dataclass
class ServerProcess:
    """An `imagesearch serve` subprocess and how to reach it."""

    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    triton_grpc_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> "ServerProcess":
        """Starts the server and blocks until its health check says SERVING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "imagesearch.cli", "serve",
            "--listen", self.address,
            "--data-dir", str(self.data_dir),
            "--metrics-port", str(self.metrics_port),
            "--triton-grpc-port", str(self.triton_grpc_port),
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        self._wait_serving()
        return self

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.5)
        raise TimeoutError(f"server not SERVING after {SERVER_START_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signals the server and waits for it to exit; returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def client(self, timeout: float = 60) -> ImageSearchClient:
        return ImageSearchClient(self.address, timeout=timeout)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    """One full server for the session: local Triton + embedded Qdrant, as `make serve` runs it.

    "localhost" is allow-listed for image_url so tests can serve images from a local HTTP
    server (by that name; 127.0.0.1 stays refused), with a short fetch deadline.
    """
    proc = ServerProcess(
        tmp_path_factory.mktemp("server"), extra_args=["--url-allow-hosts", "localhost", "--url-timeout-s", "3"]
    ).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def client(server: ServerProcess):
    with server.client() as c:
        yield c


def corel_items(indices) -> list[InsertItem]:
    """Corel photos as insert items: id corel-<index>, metadata class and file name."""
    return [
        InsertItem(image=corel_path(i).read_bytes(), id=f"corel-{i}", metadata={"class": i // 100, "file": f"{i}.jpg"})
        for i in indices
    ]


@dataclass(frozen=True)
class CorelIngest:
    """The session's collection of all 1,000 Corel originals, and how each insert went."""

    name: str
    outcomes: list[InsertOutcome]


@pytest.fixture(scope="session")
def corel_collection(client: ImageSearchClient) -> CorelIngest:
    """All of Corel-1K in collection "corel", ingested once for every test that reads it."""
    client.create_collection(COREL_COLLECTION)
    outcomes = sorted(client.insert_stream(COREL_COLLECTION, corel_items(range(COREL_SIZE)), timeout=900),
                      key=lambda o: o.index)
    failed = [o for o in outcomes if not o.ok]
    assert not failed, failed[:5]
    assert [o.index for o in outcomes] == list(range(COREL_SIZE))
    return CorelIngest(COREL_COLLECTION, outcomes)

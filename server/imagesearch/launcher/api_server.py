"""Runs `imagesearch serve` as a child process: for tests, benchmarks and scripts that need
a real server on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from imagesearch.launcher.triton import free_port

REPO_ROOT = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 300


@dataclass
class ServerProcess:
    """An `imagesearch serve` subprocess; it starts its own Triton unless extra_args name one."""

    data_dir: Path
    extra_args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)  # 0 disables the endpoint
    http_port: int = field(default_factory=free_port)  # the HTTP/JSON gateway; 0 disables it
    triton_grpc_port: int = field(default_factory=free_port)
    log_level: str = "INFO"
    # For a server given --tls-cert-file: how the start-up health check connects (with
    # --tls-client-ca-file, a client certificate too); the HTTP/JSON API is then https.
    tls_credentials: grpc.ChannelCredentials | None = None
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        """host:port of the gRPC API."""
        return f"127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP/JSON API (meaningless when http_port is 0)."""
        return f"{'https' if self.tls_credentials else 'http'}://127.0.0.1:{self.http_port}"

    @property
    def triton_url(self) -> str:
        """The local Triton's gRPC address (meaningless when --triton-url is passed)."""
        return f"127.0.0.1:{self.triton_grpc_port}"

    @property
    def log_path(self) -> Path:
        """Where the server's stdout and stderr go."""
        return self.data_dir / "server.log"

    def start(self) -> "ServerProcess":
        """Starts the server and blocks until its health check says SERVING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # Importable from a plain checkout too, without an install.
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT / "server"), str(REPO_ROOT / "clients" / "python"), env.get("PYTHONPATH")) if p
        )
        cmd = [
            sys.executable, "-m", "imagesearch.cli", "serve",
            "--listen", self.address,
            "--data-dir", str(self.data_dir),
            "--metrics-port", str(self.metrics_port),
            "--http-port", str(self.http_port),
            "--triton-grpc-port", str(self.triton_grpc_port),
            "--log-level", self.log_level,
            *self.extra_args,
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env)
        self._wait_serving()
        return self

    def _wait_serving(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        channel = (grpc.secure_channel(self.address, self.tls_credentials) if self.tls_credentials
                   else grpc.insecure_channel(self.address))
        with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass  # not listening yet
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"server not SERVING after {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Signals the server (SIGTERM drains, then stops its Triton) and waits; returns the exit code.

        Kills it and raises subprocess.TimeoutExpired if it has not exited after `timeout`.
        """
        if self.process is None:
            return 0
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def log_tail(self, lines: int = 60) -> str:
        """The last lines of the server's log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> "ServerProcess":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

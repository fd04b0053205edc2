"""Where the server listens, by the TLS settings (docs/security.md, "TLS"): the API port,
plaintext or TLS; with TLS, the HTTP gateway's private Unix socket; the plaintext health
port for Kubernetes' probes."""

from __future__ import annotations

import shutil
import tempfile

import grpc
from grpc_health.v1 import health, health_pb2_grpc

from imagesearch.auth.tls import TlsFiles


def bind_api(server: grpc.aio.Server, listen: str, tls: TlsFiles | None) -> int:
    """Adds the API port (TLS only when `tls`); returns the bound port, OSError if none."""
    port = server.add_secure_port(listen, tls.grpc_credentials()) if tls else server.add_insecure_port(listen)
    if not port:
        raise OSError(f"cannot listen on {listen}")
    return port


class GatewaySocket:
    """With TLS on, the HTTP gateway's calls come through a Unix socket in a private folder
    (mode 0700: only this user can open it), not the TLS port (imagesearch.auth.tls says
    why); they pass the same interceptors (keys, quotas, audit) as any other call."""

    def __init__(self) -> None:
        self.folder: str | None = None

    def bind(self, server: grpc.aio.Server) -> str:
        """Adds the socket to `server`; returns its target (unix:PATH)."""
        self.folder = tempfile.mkdtemp(prefix="imagesearch-gw-")
        target = f"unix:{self.folder}/grpc.sock"
        if not server.add_insecure_port(target):
            raise OSError(f"cannot listen on {target}")
        return target

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


async def start_health_port(servicer: health.aio.HealthServicer, listen: str, port: int) -> grpc.aio.Server:
    """grpc.health.v1 alone, plaintext, on `port` of the host of `listen`: Kubernetes' gRPC
    probes cannot speak TLS. It tells only SERVING or not, which the API port tells anyone."""
    host = listen.rsplit(":", 1)[0]
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    if not server.add_insecure_port(f"{host}:{port}"):
        raise OSError(f"cannot listen on {host}:{port} (health_port)")
    await server.start()
    return server

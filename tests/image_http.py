"""A local HTTP server for image_url tests: Corel photos, and endpoints that misbehave."""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass

from conftest import corel_path

SLOW_SECONDS = 8
ENDLESS_LIMIT = 64 * 1024 * 1024  # stop feeding a client that never hangs up


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, content_type: str, body: bytes, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        port = self.server.server_address[1]
        parts = self.path.strip("/").split("/")
        try:
            if parts[0] == "corel":
                self._send(200, "image/jpeg", corel_path(int(parts[1])).read_bytes())
            elif parts[0] == "as-text":
                self._send(200, "text/html", corel_path(1).read_bytes())
            elif parts[0] == "redirect":  # /redirect/<hops>/<n>
                hops, n = int(parts[1]), parts[2]
                self._redirect(f"/redirect/{hops - 1}/{n}" if hops > 1 else f"/corel/{n}")
            elif parts[0] == "to-loopback":
                self._redirect(f"http://127.0.0.1:{port}/corel/1")
            elif parts[0] == "to-metadata":
                self._redirect("http://169.254.169.254/latest/meta-data/")
            elif parts[0] == "declares-huge":
                self._send(200, "image/jpeg", b"", length=500_000_000)
            elif parts[0] == "endless":
                self._endless()
            elif parts[0] == "slow":
                self._slow()
            else:
                self._send(404, "text/plain", b"not found")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = b"\0" * 65536
        for _ in range(ENDLESS_LIMIT // len(chunk)):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))

    def _slow(self) -> None:
        body = corel_path(1).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        deadline = time.monotonic() + SLOW_SECONDS
        for byte in body:
            if time.monotonic() > deadline:
                break
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
            time.sleep(0.1)


@dataclass
class ImageHttpServer:
    """Serves on 127.0.0.1; URLs name it "localhost", which the session server allow-lists."""

    server: http.server.ThreadingHTTPServer

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}/{path.lstrip('/')}"

    @classmethod
    def start(cls) -> "ImageHttpServer":
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return cls(server)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

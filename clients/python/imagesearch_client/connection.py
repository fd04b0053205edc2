"""How a client reaches the server: plaintext (the loopback quick start) or TLS, with an
optional client certificate for a server that demands one (mutual TLS; docs/security.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Union

import grpc

Pem = Union[bytes, str, Path]


def _pem(value: Pem | None) -> bytes | None:
    """PEM bytes from bytes, or from the file a str or Path names."""
    if value is None or isinstance(value, bytes):
        return value
    return Path(value).read_bytes()


@dataclass(frozen=True)
class Tls:
    """TLS for the client's channel.

    root_certificates: the CA(s) to trust, PEM bytes or a file; None: the system's roots.
    client_cert, client_key: this client's certificate and key (both or neither), for a
    server with mutual TLS. server_name: the name to check the server's certificate against
    when it differs from the target's host (an IP address, a tunnel).
    """

    root_certificates: Pem | None = None
    client_cert: Pem | None = None
    client_key: Pem | None = None
    server_name: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("Tls: give client_cert and client_key together (or neither)")
        return grpc.ssl_channel_credentials(
            _pem(self.root_certificates), _pem(self.client_key), _pem(self.client_cert)
        )

    def options(self) -> list[tuple[str, str]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def resolve_tls(tls: "Tls | bool | None") -> Tls | None:
    """True: TLS with the system's roots; False/None: plaintext."""
    if tls is True:
        return Tls()
    return tls or None


def sync_channel(target: str, tls: Tls | None, options: list) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, tls.credentials(), options=[*options, *tls.options()])


def aio_channel(target: str, tls: Tls | None, options: list, interceptors: list | None) -> grpc.aio.Channel:
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
    return grpc.aio.secure_channel(
        target, tls.credentials(), options=[*options, *tls.options()], interceptors=interceptors
    )

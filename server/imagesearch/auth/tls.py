"""TLS and mutual TLS from the settings (docs/security.md, "TLS"): the gRPC port's server
credentials and the HTTP/JSON gateway's ssl context, from the same files.

With `tls_client_ca_file`, both demand a client certificate signed by one of its CAs
(mutual TLS). The gateway then forwards calls to the gRPC server over a Unix socket of
its own, not over the TLS port: a TLS dial to itself would need the CA that signed its
own certificate and, with mutual TLS, a client certificate the client CA signed, neither
of which a server is given (imagesearch.auth.listeners.GatewaySocket).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


class TlsConfigError(Exception):
    """TLS settings that cannot work (a certificate without a key, an unreadable file)."""


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of the server's TLS."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    @classmethod
    def from_settings(cls, settings) -> "TlsFiles | None":
        """None when TLS is off; TlsConfigError for half a configuration."""
        cert, key, ca = settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
        if not cert and not key:
            if ca:
                raise TlsConfigError("tls_client_ca_file needs tls_cert_file and tls_key_file: mutual TLS is TLS")
            return None
        if not (cert and key):
            raise TlsConfigError("set both tls_cert_file and tls_key_file (the server's certificate and its key)")
        files = cls(Path(cert), Path(key), Path(ca) if ca else None)
        for path in (files.cert, files.key, files.client_ca):
            if path is not None and not path.is_file():
                raise TlsConfigError(f"TLS file {path} does not exist or is not a file")
        return files

    @property
    def mutual(self) -> bool:
        return self.client_ca is not None

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """The gRPC port's credentials; with a client CA, clients must present a certificate."""
        ca = self.client_ca.read_bytes() if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())], root_certificates=ca, require_client_auth=ca is not None,
        )

    def ssl_context(self) -> ssl.SSLContext:
        """The HTTP/JSON gateway's context: TLS 1.2 or newer, the same certificate and client CA."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(self.cert, self.key)
            if self.client_ca is not None:
                context.load_verify_locations(cafile=str(self.client_ca))
                context.verify_mode = ssl.CERT_REQUIRED
        except (ssl.SSLError, ValueError) as exc:
            raise TlsConfigError(f"cannot use {self.cert} / {self.key}: {exc}") from exc
        return context

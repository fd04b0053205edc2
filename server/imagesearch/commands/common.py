"""What the client commands share: server options, the client, and parsing of filters,
metadata and image sources."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagesearch_client import ImageSearchClient, Tls
    from imagesearch_client.v1 import imagesearch_pb2 as pb

DEFAULT_SERVER = os.environ.get("IMAGESEARCH_SERVER", "127.0.0.1:50051")
FILTER_EXAMPLE = '{"must": [{"match": {"key": "class", "integer": 3}}]}'
DUPLICATE_POLICIES = ("allow", "skip", "reject", "ignore")


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """--server, --timeout, --api-key and the TLS options, on every command that calls a server."""
    parser.add_argument(
        "--server", default=DEFAULT_SERVER, help="host:port of the server (env IMAGESEARCH_SERVER; default: %(default)s)"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="deadline of each call in seconds (default: %(default)s)"
    )
    parser.add_argument(
        "--api-key", default=os.environ.get("IMAGESEARCH_API_KEY") or None,
        help="API key for a server that enforces keys (env IMAGESEARCH_API_KEY, which keeps it out of ps)",
    )
    tls = parser.add_argument_group("TLS (docs/security.md)")
    tls.add_argument(
        "--tls", action="store_true", default=_env_flag("IMAGESEARCH_TLS"),
        help="connect with TLS, trusting the system's CAs (implied by --tls-ca; env IMAGESEARCH_TLS=1)",
    )
    for flag, env, what in (
        ("--tls-ca", "IMAGESEARCH_TLS_CA", "PEM file of the CA(s) that signed the server's certificate"),
        ("--tls-cert", "IMAGESEARCH_TLS_CERT", "PEM certificate of this client, for a server with mutual TLS"),
        ("--tls-key", "IMAGESEARCH_TLS_KEY", "PEM private key of --tls-cert"),
        ("--tls-server-name", "IMAGESEARCH_TLS_SERVER_NAME",
         "name to check the server's certificate against, when --server's host is not in it"),
    ):
        tls.add_argument(flag, default=os.environ.get(env) or None, help=f"{what} (env {env})")


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes", "on")


def client_tls(ns: argparse.Namespace) -> "Tls | None":
    """The TLS options of the client flags; None: plaintext."""
    from imagesearch_client import Tls

    given = (ns.tls_ca, ns.tls_cert, ns.tls_key, ns.tls_server_name)
    if not ns.tls and not any(given):
        return None
    if bool(ns.tls_cert) != bool(ns.tls_key):
        raise SystemExit("error: give --tls-cert and --tls-key together (the client's certificate and its key)")
    for path in (ns.tls_ca, ns.tls_cert, ns.tls_key):
        if path and not Path(path).is_file():
            raise SystemExit(f"error: TLS file {path} does not exist")
    return Tls(ns.tls_ca and Path(ns.tls_ca), ns.tls_cert and Path(ns.tls_cert), ns.tls_key and Path(ns.tls_key),
               ns.tls_server_name or "")


def add_collection_option(parser: argparse.ArgumentParser) -> None:
    """-c/--collection, the collection ID a command works on."""
    parser.add_argument("-c", "--collection", required=True, help="the collection's ID")


def add_filter_option(parser: argparse.ArgumentParser, what: str, required: bool = False) -> None:
    """--filter: the Filter message in JSON (as in the API's JSON form)."""
    parser.add_argument(
        "--filter", required=required, default=None,
        help=f"{what}: the Filter message in JSON, e.g. '{FILTER_EXAMPLE}'",
    )


def add_image_source(parser: argparse.ArgumentParser, what: str) -> None:
    """A positional image file, or --url."""
    parser.add_argument("image", type=Path, nargs="?", help=f"{what} (or give --url)")
    parser.add_argument("--url", default=None, help="http(s) URL for the server to download instead of a file")


def add_duplicate_policy_option(parser: argparse.ArgumentParser) -> None:
    """--duplicate-policy for inserts."""
    parser.add_argument(
        "--duplicate-policy", choices=DUPLICATE_POLICIES, default="allow",
        help="when an image duplicates a stored one: store anyway (allow), keep the stored one (skip), "
        "fail with ALREADY_EXISTS (reject), or do not look for duplicates at all (ignore, the fastest); "
        "default: %(default)s",
    )


def add_json_option(parser: argparse.ArgumentParser, what: str) -> None:
    """--json, for output a program reads."""
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def open_client(ns: argparse.Namespace) -> "ImageSearchClient":
    """A client of --server with the --timeout deadline, the --api-key and the TLS options."""
    from imagesearch_client import ImageSearchClient

    return ImageSearchClient(ns.server, timeout=ns.timeout, api_key=ns.api_key, tls=client_tls(ns))


def parse_filter(text: str | None) -> "pb.Filter | None":
    """A --filter value (the Filter message as JSON) as the message; exits on bad JSON."""
    if not text:
        return None
    from google.protobuf import json_format

    from imagesearch_client.v1 import imagesearch_pb2 as pb

    try:
        return json_format.Parse(text, pb.Filter())
    except json_format.ParseError as exc:
        raise SystemExit(f"error: --filter is not a valid Filter in JSON: {exc}") from None


def parse_json_object(text: str, option: str) -> dict[str, Any]:
    """A JSON object given on the command line; exits when it is not one."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"error: {option} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise SystemExit(f"error: {option} must be a JSON object, e.g. '{{\"price\": 59}}'")
    return value


def image_source(ns: argparse.Namespace) -> tuple[bytes, str]:
    """The positional file's bytes, or the --url to send instead (exactly one is given)."""
    if (ns.image is None) == (ns.url is None):
        raise SystemExit("error: give an image file or --url (one of them)")
    return (ns.image.read_bytes() if ns.image else b""), (ns.url or "")


def counted(n: int, noun: str) -> str:
    """"1 item", "2 items"."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def print_json(value: Any) -> None:
    """Indented JSON on stdout."""
    json.dump(value, sys.stdout, indent=2, default=str)
    print()

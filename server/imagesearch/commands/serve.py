"""`imagesearch serve`: run the server (its flags are the Settings of config.py)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from imagesearch.config import add_arguments, load_settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `serve`."""
    serve = subparsers.add_parser(
        "serve", help="run the server (starts a local Triton unless --triton-url)",
        description="Run the gRPC server. Every setting is a flag, an environment variable IMAGESEARCH_<NAME>, or a "
        "key of the --config TOML file; flags beat the environment, which beats the file.",
    )
    add_arguments(serve)
    serve.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    """Serves until SIGTERM/SIGINT."""
    from imagesearch.app import ImageSearchServer  # the server's imports are heavy; other commands skip them

    settings = load_settings(ns)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from imagesearch.auth.startup import UnprotectedListen
    from imagesearch.auth.tls import TlsConfigError
    from imagesearch.store.base import StoreError

    try:
        asyncio.run(ImageSearchServer(settings).run())
    # the data dir is locked by another server, or of a newer format; no keys on a public
    # address; TLS files missing or half configured
    except (StoreError, UnprotectedListen, TlsConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0

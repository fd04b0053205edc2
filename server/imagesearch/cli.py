"""The `imagesearch` command: run the server, prepare models, and use a running server.

Commands that call a server take --server (env IMAGESEARCH_SERVER) and --timeout.
Failed calls print the status code, the error's reason (see
protos/imagesearch/v1/error_reason.proto) and the server's message, and exit with 2.
"""

from __future__ import annotations

import argparse
import sys

import grpc

from imagesearch.commands import (
    aliases,
    analyse,
    collections,
    duplicates,
    ingest,
    items,
    keys,
    models,
    moderate,
    people,
    reprocess,
    search,
    serve,
    snapshot,
)

# The subcommand groups, in --help order. A new group is a module in imagesearch/commands/
# with add_parser(subparsers) (see its __init__) and one more entry here.
COMMAND_GROUPS = (
    serve, models, collections, ingest, items, search, people, duplicates, moderate, analyse, snapshot, keys,
    aliases, reprocess,
)


def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface."""
    parser = argparse.ArgumentParser(
        prog="imagesearch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.add_parser(subparsers)
    return parser


def describe_error(exc: grpc.RpcError) -> str:
    """"CODE (REASON): message" for a failed call; the reason is left out when the server sent none."""
    from imagesearch_client.errors import error_reason

    reason = error_reason(exc)
    return f"{exc.code().name}{f' ({reason})' if reason else ''}: {exc.details()}"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `imagesearch` command."""
    ns = build_parser().parse_args(argv)
    try:
        return ns.func(ns)
    except grpc.RpcError as exc:
        print(f"error: {describe_error(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""`imagesearch find-duplicates`: the groups of copies of one image in a collection."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from imagesearch.commands.common import add_client_options, add_collection_option, add_json_option, open_client, print_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `find-duplicates`."""
    dups = subparsers.add_parser(
        "find-duplicates", help="list the groups of near-duplicate images in a collection",
        description="Audit a collection for copies of one image (exact and near-duplicates, FindDuplicates). Each "
        "line printed is one group: its item IDs, space-separated.",
    )
    add_collection_option(dups)
    dups.add_argument("--threshold", type=float, default=None, help="pair score 0..1 (default: the server's, 0.90)")
    add_json_option(dups, "the groups (IDs and scored pairs)")
    add_client_options(dups)
    dups.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        groups = list(client.find_duplicates(ns.collection, threshold=ns.threshold))
    if ns.json:
        print_json([asdict(g) for g in groups])
    else:
        for group in groups:
            print(" ".join(group.ids))
    return 0

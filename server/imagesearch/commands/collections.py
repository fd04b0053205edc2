"""`imagesearch collections ...`: create, describe, list, change and delete collections."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from typing import TYPE_CHECKING

from imagesearch.commands.common import add_client_options, add_json_option, counted, open_client, print_json

if TYPE_CHECKING:
    from imagesearch_client import Collection


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `collections create|get|list|update|delete`."""
    collections = subparsers.add_parser(
        "collections", help="create, list, describe, change or delete collections",
        description="Collections are named sets of images, each built with one model set. Each line printed is: "
        "ID, item count, model set and its vector spaces, items in the ANN index, NSFW policy, description.",
    )
    actions = collections.add_subparsers(dest="action", required=True)

    create = _add_create(actions)

    get = actions.add_parser("get", help="describe a collection")
    get.add_argument("name", help="the collection's ID")
    add_json_option(get, "the collection")
    get.set_defaults(func=get_collection)

    listing = actions.add_parser("list", help="list every collection, sorted by ID")
    add_json_option(listing, "the collections")
    listing.set_defaults(func=list_collections)

    update = actions.add_parser(
        "update", help="change a collection's description or NSFW limit",
        description="Change a collection's mutable fields; only the options given are changed. A new NSFW limit "
        "applies to inserts from then on.",
    )
    update.add_argument("name", help="the collection's ID")
    update.add_argument("--description", default=None, help="the new description ('' clears it)")
    limit = update.add_mutually_exclusive_group()
    limit.add_argument("--max-nsfw-score", type=float, default=None, help="the new NSFW limit (0..1)")
    limit.add_argument("--no-max-nsfw-score", action="store_true", help="remove the NSFW limit: accept every insert")
    update.set_defaults(func=update_collection)

    delete = actions.add_parser("delete", help="delete a collection and all its items")
    delete.add_argument("name", help="the collection's ID")
    delete.set_defaults(func=delete_collection)

    for action in (create, get, listing, update, delete):
        add_client_options(action)


def _add_create(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`collections create` and its options."""
    create = actions.add_parser("create", help="create an empty collection")
    create.add_argument("name", help="the collection's ID: 1-63 letters, digits, '_' or '-'")
    create.add_argument("--model-set", default="", help="offline (the default) or clip (after `models export-clip`)")
    create.add_argument("--description", default="", help="free text for people (at most 1000 characters)")
    create.add_argument(
        "--max-nsfw-score", type=float, default=None,
        help="refuse inserts whose NSFW score (0..1) is above this (FAILED_PRECONDITION)",
    )
    create.add_argument(
        "--skip-nsfw-scoring", action="store_true",
        help="do not run the NSFW model on inserts: ingest several times faster, for trusted catalogs; the items "
        "then have no NSFW score",
    )
    create.add_argument(
        "--faces", action="store_true",
        help="detect and embed faces at insert, for `search --face` (off by default: ~70 ms of CPU per image "
        "plus ~200 ms per face; face data is biometric, see docs/faces.md)",
    )
    create.add_argument(
        "--ocr", action="store_true",
        help="read the text in every inserted image, for `search --words` (off by default: on a photo without text "
        "3-8x the image encoder's CPU depending on the CPU (median; mean up to 15x), seconds on a page of text; "
        "docs/ocr.md)",
    )
    create.add_argument(
        "--keep-originals", action="store_true",
        help="keep each item's image bytes (their own size on disk) so the models can be re-run later",
    )
    create.set_defaults(func=create_collection)
    return create


def describe(c: "Collection") -> str:
    """One tab-separated line about a collection."""
    spaces = ", ".join(
        f"{name}{' (text)' if s.text_searchable else ''}: {s.model_name} v{s.model_version} {s.dimension}-d"
        for name, s in c.spaces.items()
    )
    if c.skip_nsfw_scoring:
        moderation = "no NSFW scoring"
    elif c.max_nsfw_score is not None:
        moderation = f"refuses NSFW score > {c.max_nsfw_score:g}"
    else:
        moderation = "NSFW scored"
    extras = [name for name, on in (("faces", c.faces_enabled), ("ocr", c.ocr_enabled),
                                     ("originals kept", c.keep_originals)) if on]
    line = (f"{c.id}\t{counted(c.item_count, 'item')}\tmodel set {c.model_set or '?'} [{spaces}]\t"
            f"indexed {c.indexed_item_count}\t{moderation}{''.join(f', {e}' for e in extras)}")
    return f"{line}\t{c.description}" if c.description else line


def as_json(c: "Collection") -> dict:
    """A collection as a JSON object (spaces by name, each with its model's fields)."""
    return {**asdict(c), "spaces": {name: s._asdict() for name, s in c.spaces.items()}}


def _show(collections: list["Collection"], json_output: bool) -> None:
    if json_output:
        print_json([as_json(c) for c in collections])
    else:
        for c in collections:
            print(describe(c))


def create_collection(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        collection = client.create_collection(
            ns.name, ns.model_set, description=ns.description, max_nsfw_score=ns.max_nsfw_score,
            skip_nsfw_scoring=ns.skip_nsfw_scoring, keep_originals=ns.keep_originals, faces_enabled=ns.faces,
            ocr_enabled=ns.ocr,
        )
    print(describe(collection))
    return 0


def get_collection(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        _show([client.get_collection(ns.name)], ns.json)
    return 0


def list_collections(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        _show(list(client.list_collections()), ns.json)
    return 0


def update_collection(ns: argparse.Namespace) -> int:
    if ns.description is None and ns.max_nsfw_score is None and not ns.no_max_nsfw_score:
        raise SystemExit("error: nothing to change: give --description, --max-nsfw-score or --no-max-nsfw-score")
    with open_client(ns) as client:
        collection = client.update_collection(
            ns.name, description=ns.description, max_nsfw_score=ns.max_nsfw_score,
            clear_max_nsfw_score=ns.no_max_nsfw_score,
        )
    print(describe(collection))
    return 0


def delete_collection(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        client.delete_collection(ns.name)
    print(f"deleted {ns.name}")
    return 0

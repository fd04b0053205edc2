"""`imagesearch items ...`: read, list, count, change and delete stored items."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import TYPE_CHECKING

from imagesearch.commands.common import (
    add_client_options,
    add_collection_option,
    add_filter_option,
    add_json_option,
    counted,
    open_client,
    parse_filter,
    parse_json_object,
    print_json,
)

if TYPE_CHECKING:
    from imagesearch_client import Item


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `items get|list|count|update|delete|purge`."""
    items = subparsers.add_parser(
        "items", help="read, list, count, change or delete stored items",
        description="Items are named by their plain IDs here (the command percent-encodes them into resource "
        "names). Each line printed is: ID, NSFW score ('-' if not scored), metadata as JSON.",
    )
    actions = items.add_subparsers(dest="action", required=True)
    added = [_add_get(actions), _add_list(actions), _add_count(actions), _add_update(actions),
             _add_delete(actions), _add_purge(actions)]
    for action in added:
        add_collection_option(action)
        add_client_options(action)


def _add_get(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    get = actions.add_parser("get", help="read items by ID (several at once with BatchGetItems)")
    get.add_argument("ids", nargs="+", metavar="ID", help="item IDs (at most 1000)")
    get.add_argument("--allow-missing", action="store_true", help="print the IDs that do not exist instead of failing")
    add_json_option(get, "the items")
    get.set_defaults(func=get_items)
    return get


def _add_list(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    listing = actions.add_parser(
        "list", help="list items, a page at a time, optionally filtered",
        description="List a collection's items in a stable order. Without --all, prints one page and, when more "
        "follow, the --page-token for the next (on stderr).",
    )
    add_filter_option(listing, "only items whose metadata passes this filter")
    listing.add_argument("--page-size", type=int, default=None, help="items per page, 1-1000 (default: the server's, 100)")
    listing.add_argument("--page-token", default="", help="continue from a previous page")
    listing.add_argument("--all", action="store_true", help="every page, one after the other")
    add_json_option(listing, "the items (one JSON object per line)")
    listing.set_defaults(func=list_items)
    return listing


def _add_count(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    count = actions.add_parser("count", help="count items, optionally filtered")
    add_filter_option(count, "count only items whose metadata passes this filter")
    count.set_defaults(func=count_items)
    return count


def _add_update(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    update = actions.add_parser(
        "update", help="change an item's metadata (the image stays)",
        description="Replace an item's whole metadata (--metadata), or set and remove single top-level keys "
        "(--set KEY=JSON, --unset KEY).",
    )
    update.add_argument("id", help="the item's ID")
    update.add_argument("--metadata", default=None, help='the new metadata, a JSON object, e.g. \'{"price": 49}\'')
    update.add_argument(
        "--set", action="append", default=[], metavar="KEY=JSON",
        help='set one key to a JSON value, e.g. --set price=49 --set tags=\'["sale"]\' (a value that is not JSON '
        "is taken as a string)",
    )
    update.add_argument("--unset", action="append", default=[], metavar="KEY", help="remove one key")
    add_json_option(update, "the updated item")
    update.set_defaults(func=update_item)
    return update


def _add_delete(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    delete = actions.add_parser("delete", help="delete items by ID (several at once with BatchDeleteItems)")
    delete.add_argument("ids", nargs="+", metavar="ID", help="item IDs (at most 1000)")
    delete.add_argument(
        "--allow-missing", action="store_true", help="with one ID: succeed when it does not exist (several IDs: always)"
    )
    delete.set_defaults(func=delete_items)
    return delete


def _add_purge(actions: argparse._SubParsersAction) -> argparse.ArgumentParser:
    purge = actions.add_parser(
        "purge", help="delete every item matching a filter; without --force only counts them",
        description="Delete every item whose metadata passes --filter. Without --force nothing is deleted: the "
        "command says how many items would be, with a sample of their IDs. Run it again with --force to delete.",
    )
    add_filter_option(purge, "which items to delete (at least one condition)", required=True)
    purge.add_argument("--force", action="store_true", help="actually delete (default: a dry run)")
    purge.set_defaults(func=purge_items)
    return purge


def item_line(item: "Item") -> str:
    """One tab-separated line about an item."""
    nsfw = "-" if item.nsfw_score is None else f"{item.nsfw_score:.4f}"
    return f"{item.id}\t{nsfw}\t{json.dumps(item.metadata, sort_keys=True)}"


def get_items(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        if len(ns.ids) == 1 and not ns.allow_missing:
            found = [client.get_item(ns.collection, ns.ids[0])]
        else:
            found = client.batch_get_items(ns.collection, ns.ids, allow_missing=ns.allow_missing)
    found_ids = {item.id for item in found}
    missing = [i for i in ns.ids if i not in found_ids]
    if ns.json:
        print_json({"items": [asdict(i) for i in found], "missing": missing})
    else:
        for item in found:
            print(item_line(item))
        for item_id in missing:
            print(f"{item_id}\tmissing", file=sys.stderr)
    return 0


def list_items(ns: argparse.Namespace) -> int:
    filter = parse_filter(ns.filter)
    token = ns.page_token
    with open_client(ns) as client:
        while True:
            page = client.list_items_page(ns.collection, ns.page_size, token, filter)
            for item in page.items:
                print(json.dumps(asdict(item)) if ns.json else item_line(item))
            token = page.next_page_token
            if not token or not ns.all:
                break
    if token:
        print(f"more: --page-token {token}", file=sys.stderr)
    return 0


def count_items(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        print(client.count_items(ns.collection, filter=parse_filter(ns.filter)))
    return 0


def _parse_set(assignment: str) -> tuple[str, object]:
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise SystemExit(f"error: --set takes KEY=JSON, not {assignment!r}")
    try:
        return key, json.loads(text)
    except json.JSONDecodeError:
        return key, text  # --set color=red: a plain word is a string


def update_item(ns: argparse.Namespace) -> int:
    if ns.metadata is not None and (ns.set or ns.unset):
        raise SystemExit("error: give --metadata (replace all) or --set/--unset (single keys), not both")
    if ns.metadata is not None:
        metadata, keys = parse_json_object(ns.metadata, "--metadata"), None
    elif ns.set or ns.unset:
        metadata = dict(_parse_set(a) for a in ns.set)
        keys = [*metadata, *ns.unset]  # an unset key is in the mask but not in the metadata: removed
    else:
        raise SystemExit("error: nothing to change: give --metadata, --set or --unset")
    with open_client(ns) as client:
        item = client.update_item(ns.collection, ns.id, metadata, keys=keys)
    print(json.dumps(asdict(item)) if ns.json else item_line(item))
    return 0


def delete_items(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        if len(ns.ids) == 1:
            client.delete_item(ns.collection, ns.ids[0], allow_missing=ns.allow_missing)
            print(f"deleted {ns.ids[0]}")
        else:
            deleted = client.batch_delete_items(ns.collection, ns.ids)
            missing = f" ({len(ns.ids) - deleted} did not exist)" if deleted < len(ns.ids) else ""
            print(f"deleted {deleted} of {counted(len(ns.ids), 'item')}{missing}")
    return 0


def purge_items(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        result = client.purge_items(ns.collection, parse_filter(ns.filter), force=ns.force)
    sample = ", ".join(result.sample[:10]) + (", ..." if result.count > 10 else "")
    matched = counted(result.count, "item") + (f": {sample}" if result.count else "")
    print(f"deleted {matched}" if ns.force else f"would delete {matched}")
    if result.count and not ns.force:
        print("nothing deleted yet: run again with --force to delete them", file=sys.stderr)
    return 0

"""`imagesearch keys`: create, list and revoke API keys, in the data dir's key file (offline:
no server is called; a running server picks the change up within 2 s), or through a running
server's admin RPCs with --server (the change applies from the next call; the caller's key
needs admin on '*')."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

from imagesearch.commands.common import print_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `keys` with create, list and revoke."""
    keys = subparsers.add_parser(
        "keys", help="API keys: create, list, revoke (in the data dir, or on a server with --server)",
        description="Manage the API keys of a server's data dir. With at least one key the server demands a key "
        "on every call but health checks and reflection. Roles are ROLE:PATTERN, ROLE read, write or admin, "
        "PATTERN a collection ID, a prefix ending in '*' (tenant-a-*), or '*' (all); see docs/security.md.",
    )
    actions = keys.add_subparsers(dest="keys_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a key and print it (the only time it is shown)")
    create.add_argument("name", help="a name for the key (unique; used to list and revoke it)")
    create.add_argument("--role", action="append", required=True, dest="roles",
                        help="a grant ROLE:PATTERN, e.g. read:tenant-a-* or admin:*; repeat for several")
    create.add_argument("--expires-in-days", type=float, default=None,
                        help="the key stops working after this many days (default: never)")
    create.set_defaults(func=run_create)
    listing = actions.add_parser("list", help="list the keys (names, roles, dates; never the keys)")
    listing.add_argument("--json", action="store_true", help="print the keys as JSON")
    listing.set_defaults(func=run_list)
    revoke = actions.add_parser("revoke", help="revoke a key by name (a running server drops it within 2 s)")
    revoke.add_argument("name", help="the key's name")
    revoke.set_defaults(func=run_revoke)
    for action in (create, listing, revoke):
        action.add_argument("--data-dir", type=Path, default=Path("data"),
                            help="the server's data dir (default: %(default)s)")
        action.add_argument("--api-keys-file", type=Path, default=None,
                            help="the key file, when the server's --api-keys-file points elsewhere "
                            "(default: DATA_DIR/api_keys.json)")
        action.add_argument("--server", default=None,
                            help="host:port of a running server: manage its keys through the admin RPCs instead "
                            "of the file (the change applies from the next call)")
        action.add_argument("--api-key", default=os.environ.get("IMAGESEARCH_API_KEY") or None,
                            help="with --server: a key with admin on '*' (env IMAGESEARCH_API_KEY)")


def _file(ns: argparse.Namespace):
    from imagesearch.auth.keys import KeyFile

    return KeyFile(ns.api_keys_file or ns.data_dir / "api_keys.json")


def _server(ns: argparse.Namespace):
    from imagesearch_client import ImageSearchClient

    return ImageSearchClient(ns.server, api_key=ns.api_key)


def _run_on_server(ns: argparse.Namespace) -> int:
    with _server(ns) as client:
        admin = client.admin
        if ns.keys_action == "create":
            expires = (datetime.now(timezone.utc) + timedelta(days=ns.expires_in_days)
                       if ns.expires_in_days is not None else None)
            created = admin.create_api_key(ns.name, ns.roles, expires)
            print(created.key)
            print(f"key {ns.name!r} created; it is shown only now (the server keeps its SHA-256)", file=sys.stderr)
        elif ns.keys_action == "list":
            keys = admin.list_api_keys()
            if ns.json:
                print_json([k.__dict__ for k in keys])
            for key in [] if ns.json else keys:
                expires = key.expire_time.isoformat() if key.expire_time else "never"
                print(f"{key.key_id}\t{' '.join(key.roles)}\tcreated {key.create_time.isoformat()}\texpires {expires}")
        else:
            admin.delete_api_key(ns.name)
            print(f"key {ns.name!r} revoked")
    return 0


def run_create(ns: argparse.Namespace) -> int:
    if ns.server:
        return _run_on_server(ns)
    from imagesearch.auth.keys import KeyStoreError
    from imagesearch.auth.scopes import Grant, InvalidGrant

    try:
        grants = tuple(Grant.parse(r) for r in ns.roles)
        key = _file(ns).create(ns.name, grants, ns.expires_in_days)
    except (InvalidGrant, KeyStoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(key)
    print(f"key {ns.name!r} created; it is shown only now (the file keeps its SHA-256)", file=sys.stderr)
    return 0


def run_list(ns: argparse.Namespace) -> int:
    if ns.server:
        return _run_on_server(ns)
    keys = _file(ns).load()
    if ns.json:
        print_json([{k: v for k, v in key.to_json().items() if k != "sha256"} for key in keys])
        return 0
    for key in keys:
        expires = key.expires.isoformat() if key.expires else "never"
        print(f"{key.name}\t{' '.join(str(g) for g in key.grants)}\tcreated {key.created.isoformat()}\t"
              f"expires {expires}")
    return 0


def run_revoke(ns: argparse.Namespace) -> int:
    if ns.server:
        return _run_on_server(ns)
    from imagesearch.auth.keys import KeyStoreError

    try:
        _file(ns).revoke(ns.name)
    except KeyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"key {ns.name!r} revoked")
    return 0

"""`imagesearch keys`: create, list and revoke API keys in the data dir's key file (offline:
no server is called; a running server picks the change up within 2 s)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imagesearch.commands.common import print_json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `keys` with create, list and revoke."""
    keys = subparsers.add_parser(
        "keys", help="API keys: create, list, revoke (offline, in the data dir)",
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


def _file(ns: argparse.Namespace):
    from imagesearch.auth.keys import KeyFile

    return KeyFile(ns.api_keys_file or ns.data_dir / "api_keys.json")


def run_create(ns: argparse.Namespace) -> int:
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
    from imagesearch.auth.keys import KeyStoreError

    try:
        _file(ns).revoke(ns.name)
    except KeyStoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"key {ns.name!r} revoked")
    return 0

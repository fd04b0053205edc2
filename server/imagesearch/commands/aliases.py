"""`imagesearch alias create|list|switch|delete`: collection aliases on a running server
(admin RPCs; the key needs the admin role). An alias is accepted wherever a collection ID is
(search, insert, every call), and `switch` repoints it atomically, so a rebuilt collection
replaces the old one without clients changing names.

Examples:
    imagesearch alias create photos photos-v1
    imagesearch alias switch photos photos-v2
    imagesearch alias list
    imagesearch alias delete photos
"""

from __future__ import annotations

import argparse

from imagesearch.commands.common import add_client_options, open_client


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `alias` with create, list, switch and delete."""
    parser = subparsers.add_parser("alias", help="collection aliases: create, list, switch, delete (on a server)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="alias_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create ALIAS for COLLECTION")
    create.add_argument("alias", help="the alias ID (collection ID rules; not a collection's or alias's ID)")
    create.add_argument("collection", help="the collection it stands for")
    switch = actions.add_parser("switch", help="point ALIAS at another COLLECTION, atomically")
    switch.add_argument("alias", help="an existing alias")
    switch.add_argument("collection", help="the collection it stands for from now on")
    listing = actions.add_parser("list", help="list aliases (of one collection with -c)")
    listing.add_argument("-c", "--collection", default=None, help="only the aliases of this collection")
    delete = actions.add_parser("delete", help="delete an alias (not its collection)")
    delete.add_argument("alias", help="the alias ID")
    for action in (create, switch, listing, delete):
        add_client_options(action)
        action.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    with open_client(ns) as client:
        admin = client.admin
        if ns.alias_action == "create":
            alias = admin.create_alias(ns.alias, ns.collection)
        elif ns.alias_action == "switch":
            alias = admin.switch_alias(ns.alias, ns.collection)
        elif ns.alias_action == "delete":
            admin.delete_alias(ns.alias)
            print(f"deleted alias {ns.alias}")
            return 0
        else:
            for alias in admin.list_aliases(ns.collection):
                print(f"{alias.alias_id}\t-> {alias.collection}")
            return 0
        print(f"{alias.alias_id}\t-> {alias.collection}")
    return 0

"""`imagesearch snapshot create|list|restore|delete|download|upload`: snapshots of a running
server (--server HOST:PORT, through its admin RPCs, while it serves), or of a stopped
server's data dir (--data-dir, embedded store) or a remote Qdrant (--qdrant-url, through
Qdrant's snapshot API).

A running server holds its data dir: give --server. Restoring offline cannot ask a server
which model sets it serves, so an offline `restore` needs --no-model-check; through a
server, a snapshot whose model set it does not serve is refused.

Examples, against a running server (add --api-key KEY, or set IMAGESEARCH_API_KEY, when it
enforces keys; the key needs the admin role):
    imagesearch snapshot create photos --server 127.0.0.1:50051
    imagesearch snapshot list --server 127.0.0.1:50051
    imagesearch snapshot download photos photos-20261201T090000Z-1a2b -o photos.snapshot --server old:50051
    imagesearch snapshot upload photos.snapshot --snapshot-id moved --server new:50051
    imagesearch snapshot restore photos moved --server new:50051

Examples, offline:
    imagesearch snapshot create photos --data-dir data
    imagesearch snapshot create --all --data-dir data
    imagesearch snapshot list --data-dir data
    imagesearch snapshot restore photos photos-20261201T090000Z-1a2b --data-dir new-data --no-model-check
    imagesearch snapshot restore --file /backups/photos-....snapshot --data-dir new-data --no-model-check
    imagesearch snapshot delete photos photos-20261201T090000Z-1a2b --data-dir data
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import sys
from pathlib import Path
from typing import Any

from imagesearch.store.base import ALL_COLLECTIONS, SnapshotInfo, StoreError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `snapshot` on the `imagesearch` sub-command parsers."""
    parser = subparsers.add_parser(
        "snapshot", help="create, list, restore and delete collection snapshots",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="snapshot_action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-dir", type=Path, default=Path("data"), help="the server's data dir (default: data)")
        p.add_argument("--qdrant-url", default="", help="a remote Qdrant instead of the embedded store")
        p.add_argument("--qdrant-api-key", default="", help="API key for --qdrant-url")
        server_options(p)

    def server_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--server", "--address", dest="server", default=None,
                       help="host:port of a running server: act through its admin RPCs (default: offline)")
        p.add_argument("--api-key", default=os.environ.get("IMAGESEARCH_API_KEY") or None,
                       help="API key with the admin role (env IMAGESEARCH_API_KEY)")
        p.add_argument("--timeout", type=float, default=30.0, help="deadline of short calls in seconds")

    create = actions.add_parser("create", help="snapshot one collection, or all with --all")
    create.add_argument("collection", nargs="?", help="collection (or alias) to snapshot")
    create.add_argument("--all", action="store_true", help="one snapshot of every collection")
    common(create)
    listing = actions.add_parser("list", help="list snapshots (of one collection, or all)")
    listing.add_argument("collection", nargs="?", help="only the snapshots of this collection (default: all)")
    common(listing)
    restore = actions.add_parser("restore", help="create the collection(s) of a snapshot")
    restore.add_argument("collection", nargs="?", help=f"the snapshot's collection ({ALL_COLLECTIONS} for all)")
    restore.add_argument("snapshot", nargs="?", help="the snapshot's name (see list)")
    restore.add_argument("--file", type=Path, help="restore this snapshot file instead (embedded store)")
    restore.add_argument("--as", dest="target", help="restore a one-collection snapshot under this name")
    restore.add_argument("--no-model-check", action="store_true",
                         help="restore without checking the model set against a server (required offline)")
    common(restore)
    delete = actions.add_parser("delete", help="delete one snapshot")
    delete.add_argument("collection", help=f"the snapshot's collection ({ALL_COLLECTIONS} for all)")
    delete.add_argument("snapshot", help="the snapshot's name (see list)")
    common(delete)
    download = actions.add_parser("download", help="copy a snapshot file out of a running server (--server)")
    download.add_argument("collection", help=f"the snapshot's collection ({ALL_COLLECTIONS} for all)")
    download.add_argument("snapshot", help="the snapshot's name (see list)")
    download.add_argument("-o", "--output", type=Path, required=True, help="the file to write (must not exist)")
    server_options(download)
    upload = actions.add_parser("upload", help="send a snapshot file into a running server's catalog (--server)")
    upload.add_argument("file", type=Path, help="a snapshot file (from download, or an offline create)")
    upload.add_argument("--snapshot-id", default="", help="the name to keep it under (default: a fresh one)")
    server_options(upload)
    parser.set_defaults(func=run)
    return parser


def _open(args: argparse.Namespace):
    from imagesearch.store.factory import open_store

    return open_store(args.data_dir, args.qdrant_url or None, args.qdrant_api_key or None, index_threshold=0)


class _Bar:
    """A tqdm progress bar fed by the store's progress(done, total) callbacks."""

    def __init__(self, label: str) -> None:
        from tqdm import tqdm

        self._bar = tqdm(desc=label, unit="item", file=sys.stderr, leave=False)

    def __call__(self, done: int, total: int) -> None:
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


def _print(info: SnapshotInfo) -> None:
    when = datetime.datetime.fromtimestamp(info.created_at, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    items = "?" if info.item_count is None else info.item_count
    print(f"{info.collection}/{info.name}\t{when}\t{items} items\t{info.size_bytes / 1e6:.1f} MB"
          f"\t{','.join(info.model_sets) or '-'}\tsha256:{info.checksum[:16]}\t{info.location}")


async def _run(args: argparse.Namespace) -> int:
    store = _open(args)
    try:
        action = args.snapshot_action
        if action == "create":
            if bool(args.collection) == bool(args.all):
                raise SystemExit("name one collection, or pass --all")
            bar = _Bar("snapshot")
            try:
                _print(await store.create_snapshot(None if args.all else args.collection, progress=bar))
            finally:
                bar.close()
        elif action == "list":
            for info in await store.list_snapshots(args.collection):
                _print(info)
        elif action == "delete":
            await store.delete_snapshot(args.collection, args.snapshot)
            print(f"deleted {args.collection}/{args.snapshot}")
        else:
            return await _restore(store, args)
        return 0
    finally:
        await store.close()


async def _restore(store: Any, args: argparse.Namespace) -> int:
    if not args.no_model_check:
        raise SystemExit("offline restore cannot check model sets: pass --no-model-check (the server refuses "
                         "collections whose model set it does not serve), or restore through the server")
    bar = _Bar("restore")
    try:
        if args.file:
            if not hasattr(store, "restore_file"):
                raise SystemExit("--file needs the embedded store; a remote Qdrant recovers from a URL: "
                                 "pass it as SNAPSHOT")
            infos = await store.restore_file(args.file, None, args.target, progress=bar)
        elif args.collection and args.snapshot:
            infos = await store.restore_snapshot(args.collection, args.snapshot, None, args.target, progress=bar)
        else:
            raise SystemExit("name the snapshot (COLLECTION SNAPSHOT) or pass --file")
    finally:
        bar.close()
    for info in infos:
        print(f"restored {info.name}: {info.count} items, model set {info.model_set.name}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the parsed `snapshot` command; 0 on success, 1 on a store error (printed)."""
    if args.server:
        from imagesearch.commands.snapshot_server import run_on_server

        return run_on_server(args)
    if args.snapshot_action in ("download", "upload"):
        raise SystemExit(f"snapshot {args.snapshot_action} acts on a running server: pass --server HOST:PORT "
                         "(offline, copy the file into DATA_DIR/snapshots/COLLECTION/ instead)")
    try:
        return asyncio.run(_run(args))
    except StoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

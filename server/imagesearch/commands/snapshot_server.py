"""`imagesearch snapshot ... --server HOST:PORT`: the same actions through a running server's
admin RPCs (admin.proto), plus `download` and `upload`, which move a snapshot file between
servers. Needs a key with the admin role when the server enforces keys (--api-key or
IMAGESEARCH_API_KEY)."""

from __future__ import annotations

import argparse

from imagesearch.store.base import ALL_COLLECTIONS

# A snapshot, restore or file transfer lasts as long as the collection's size makes it: the
# per-call --timeout (for short calls) does not bound these; this only stops a hung one.
LONG_CALL_S = 6 * 3600.0


def _print(s) -> None:
    when = s.create_time.strftime("%Y-%m-%d %H:%M:%SZ") if s.create_time else "?"
    items = "?" if s.item_count is None else s.item_count
    print(f"{s.collection}/{s.snapshot_id}\t{when}\t{items} items\t{s.size_bytes / 1e6:.1f} MB"
          f"\t{','.join(s.model_sets) or '-'}\tsha256:{s.checksum[:16]}\t{s.location}")


def _collection(value: str | None) -> str | None:
    return None if value in (None, ALL_COLLECTIONS) else value


def run_on_server(args: argparse.Namespace) -> int:
    """Run a snapshot action against args.server."""
    from imagesearch_client import ImageSearchClient

    with ImageSearchClient(args.server, timeout=args.timeout, api_key=args.api_key) as client:
        admin, action = client.admin, args.snapshot_action
        if action == "create":
            if bool(args.collection) == bool(args.all):
                raise SystemExit("name one collection, or pass --all")
            _print(admin.create_snapshot(None if args.all else args.collection, timeout=LONG_CALL_S))
        elif action == "list":
            for snapshot in admin.list_snapshots(args.collection):
                _print(snapshot)
        elif action == "delete":
            admin.delete_snapshot(_collection(args.collection), args.snapshot)
            print(f"deleted {args.collection}/{args.snapshot}")
        elif action == "restore":
            if args.file:
                raise SystemExit("--file is for offline restores; upload the file first (snapshot upload FILE "
                                 "--server ...), then restore it by name")
            if not (args.collection and args.snapshot):
                raise SystemExit("name the snapshot: COLLECTION SNAPSHOT (see snapshot list)")
            for c in admin.restore_snapshot(_collection(args.collection), args.snapshot, args.target or "",
                                            timeout=LONG_CALL_S):
                print(f"restored {c.name.split('/', 1)[1]}: {c.item_count} items, model set {c.model_set}")
        elif action == "download":
            info = admin.download_snapshot(_collection(args.collection), args.snapshot, args.output,
                                           timeout=LONG_CALL_S)
            print(f"wrote {args.output} ({info.size_bytes / 1e6:.1f} MB, {info.item_count} items)")
        else:  # upload
            _print(admin.upload_snapshot(args.file, args.snapshot_id or "", timeout=LONG_CALL_S))
    return 0



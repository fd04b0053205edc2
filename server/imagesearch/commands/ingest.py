"""`imagesearch insert` (one image) and `imagesearch index` (a folder, streamed through
ImportItems with a progress bar)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import grpc

from imagesearch.commands.common import (
    add_client_options,
    add_collection_option,
    add_duplicate_policy_option,
    add_image_source,
    image_source,
    open_client,
    parse_json_object,
)

if TYPE_CHECKING:
    from imagesearch_client import InsertItem
    from imagesearch_client.types import Duplicate

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
FAILURES_LISTED = 20


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `insert` and `index`."""
    insert = subparsers.add_parser(
        "insert", help="store one image file, or the image at --url (CreateItem)",
        description="Store one image as an item. An ID that exists is replaced.",
    )
    add_image_source(insert, "the image file")
    add_collection_option(insert)
    insert.add_argument("--id", default="", help="the item's ID, 1-256 printable characters (default: a UUID)")
    insert.add_argument("--metadata", default=None, help='metadata as a JSON object, e.g. \'{"price": 59}\'')
    add_duplicate_policy_option(insert)
    add_client_options(insert)
    insert.set_defaults(func=insert_image)

    index = subparsers.add_parser(
        "index", help="stream a folder of images into a collection (ImportItems)",
        description=f"Store every image file ({', '.join(sorted(IMAGE_SUFFIXES))}) of a folder. Each item's ID is "
        'the file\'s path relative to the folder, and its metadata {"path": <that path>}, so indexing the folder '
        "again replaces the items instead of duplicating them. Files that fail are listed at the end (exit 1).",
    )
    index.add_argument("directory", type=Path, help="the folder of images")
    add_collection_option(index)
    index.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    index.add_argument("--create", action="store_true", help="create the collection if it does not exist")
    index.add_argument("--model-set", default="", help="model set of a collection made by --create (default: offline)")
    index.add_argument(
        "--skip-nsfw-scoring", action="store_true",
        help="with --create: do not run the NSFW model on inserts (ingest several times faster, for trusted "
        "catalogs; the items then have no NSFW score)",
    )
    add_duplicate_policy_option(index)
    add_client_options(index)
    index.set_defaults(func=index_folder)


def _duplicate_note(duplicate: "Duplicate | None") -> str:
    if duplicate is None:
        return ""
    if duplicate.skipped:
        return f"\tskipped: duplicates the stored item (score {duplicate.score:.3f})"
    kind = "exact" if duplicate.exact else f"near, score {duplicate.score:.3f}"
    return f"\tstored; duplicates {duplicate.id} ({kind})"


def insert_image(ns: argparse.Namespace) -> int:
    from imagesearch_client import InsertItem

    image, url = image_source(ns)
    metadata = parse_json_object(ns.metadata, "--metadata") if ns.metadata else {}
    item = InsertItem(image=image, id=ns.id, metadata=metadata, image_url=url, duplicate_policy=ns.duplicate_policy)
    with open_client(ns) as client:
        result = client.create_item(ns.collection, item)
    print(f"{result.id}{_duplicate_note(result.duplicate)}")
    return 0


def image_files(root: Path, recursive: bool) -> list[Path]:
    """The image files under `root`, sorted."""
    pattern = root.rglob("*") if recursive else root.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


@dataclass(frozen=True)
class Failure:
    """A file the server did not store, and why."""

    path: str
    code: str
    reason: str
    message: str


def _report(collection: str, total: int, failures: list[Failure]) -> int:
    print(f"indexed {total - len(failures)} of {total} images into {collection}")
    if not failures:
        return 0
    print(f"{len(failures)} failed:", dict(Counter(f.reason or f.code for f in failures)), file=sys.stderr)
    for f in failures[:FAILURES_LISTED]:
        print(f"  {f.path}: {f.code} ({f.reason}): {f.message}", file=sys.stderr)
    if len(failures) > FAILURES_LISTED:
        print(f"  ... and {len(failures) - FAILURES_LISTED} more", file=sys.stderr)
    return 1


def index_folder(ns: argparse.Namespace) -> int:
    from tqdm import tqdm

    from imagesearch_client import InsertItem

    files = image_files(ns.directory, ns.recursive)
    if not files:
        print(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {ns.directory}", file=sys.stderr)
        return 1

    def items() -> Iterator[InsertItem]:
        for path in files:  # read lazily: the stream holds a few images at a time, not the folder
            rel = path.relative_to(ns.directory).as_posix()
            yield InsertItem(
                image=path.read_bytes(), id=rel, metadata={"path": rel}, duplicate_policy=ns.duplicate_policy
            )

    failures: list[Failure] = []
    with open_client(ns) as client:
        if ns.create:
            _create_unless_exists(client, ns)
        with tqdm(total=len(files), unit="img", desc=f"indexing into {ns.collection}") as bar:
            for outcome in client.import_items(ns.collection, items()):
                if outcome.error is not None:
                    e = outcome.error
                    failures.append(Failure(files[outcome.index].as_posix(), e.code.name, e.reason or "", e.message))
                bar.update(1)
    return _report(ns.collection, len(files), failures)


def _create_unless_exists(client, ns: argparse.Namespace) -> None:
    try:
        client.create_collection(ns.collection, ns.model_set, skip_nsfw_scoring=ns.skip_nsfw_scoring)
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
            raise

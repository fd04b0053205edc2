"""`imagesearch search`: the items most similar to an image, a stored item, or a text."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from imagesearch.commands.common import (
    add_client_options,
    add_collection_option,
    add_filter_option,
    add_json_option,
    open_client,
    parse_filter,
    print_json,
)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `search`."""
    search = subparsers.add_parser(
        "search", help="find the stored images most similar to an image file, --url or --item, or matching --text",
        description="Search a collection (SearchItems). Give exactly one query: an image file, --url, --item (more "
        "like a stored item) or --text. Each line printed is: rank, score (0..1), item ID, metadata as JSON.",
    )
    search.add_argument("image", type=Path, nargs="?", help="query image file (or --url, --item, --text)")
    search.add_argument("--url", default=None, help="http(s) URL for the server to download instead of a file")
    search.add_argument("--item", default=None, metavar="ID", help="a stored item's ID: find items like it")
    search.add_argument("-t", "--text", help='describe the wanted images, e.g. "a beach at sunset"')
    search.add_argument("--words", default=None, help='words printed in the images, e.g. "RE16" (collections '
                        'created with --ocr); with --phrase the words in order on one line')
    search.add_argument("--phrase", action="store_true", help="with --words: match the exact phrase")
    search.add_argument("--face", type=Path, default=None, metavar="IMAGE",
                        help="an image with faces: the items showing those people (collections created with "
                        "--faces); --face-index picks one face")
    search.add_argument("--face-index", type=int, default=None, help="with --face: search with this face only")
    add_collection_option(search)
    search.add_argument("-k", "--top-k", type=int, default=None, help="how many hits, 1-1000 (default: 10)")
    search.add_argument("--min-score", type=float, default=None, help="only hits scoring at least this (0..1)")
    search.add_argument("--max-nsfw-score", type=float, default=None, help="leave out items scoring above this (0..1)")
    search.add_argument(
        "--include-query-item", action="store_true", help="with --item: keep the query item itself among the hits"
    )
    add_filter_option(search, "only items whose metadata passes this filter")
    add_json_option(search, "the hits")
    add_client_options(search)
    search.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    if sum(x is not None for x in (ns.image, ns.url, ns.text, ns.item, ns.words, ns.face)) != 1:
        raise SystemExit("error: give exactly one of an image file, --url, --item, --text, --words or --face")
    if ns.words is not None or ns.face is not None:
        return _search_words_or_faces(ns)
    if ns.include_query_item and ns.item is None:
        raise SystemExit("error: --include-query-item goes with --item")
    options = dict(top_k=ns.top_k, min_score=ns.min_score, filter=parse_filter(ns.filter),
                   max_nsfw_score=ns.max_nsfw_score)
    with open_client(ns) as client:
        if ns.text is not None:
            hits = client.search_text(ns.collection, ns.text, **options)
        elif ns.item is not None:
            hits = client.search_similar(ns.collection, ns.item, include_query_item=ns.include_query_item, **options)
        elif ns.url is not None:
            hits = client.search(ns.collection, image_url=ns.url, **options)
        else:
            hits = client.search(ns.collection, ns.image.read_bytes(), **options)
    if ns.json:
        print_json([asdict(h) for h in hits])
    else:
        for h in hits:
            print(f"{h.rank:>4}  {h.score:.4f}  {h.id}  {json.dumps(h.metadata)}")
    return 0


def _search_words_or_faces(ns: argparse.Namespace) -> int:
    """`--words` and `--face`: each hit also shows where it matched (lines or a face box)."""
    with open_client(ns) as client:
        if ns.words is not None:
            hits = client.search_image_text(ns.collection, ns.words, phrase=ns.phrase, top_k=ns.top_k,
                                            min_score=ns.min_score, filter=parse_filter(ns.filter))
        else:
            hits = client.search_faces(ns.collection, ns.face.read_bytes(), face_index=ns.face_index, top_k=ns.top_k,
                                       min_score=ns.min_score)
    if ns.json:
        print_json([asdict(h) for h in hits])
        return 0
    for h in hits:
        where = (f"face {h.query_face_index}: box {tuple(round(v) for v in h.face_box)}" if h.face_box
                 else " | ".join(line.text for line in h.matched_lines))
        print(f"{h.rank:>4}  {h.score:.4f}  {h.id}  {where}")
    return 0

"""The `imagesearch` command: run the server, prepare models, and use a running server."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Iterator

import grpc

from imagesearch.config import Settings, add_arguments, load_settings

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
DEFAULT_SERVER = os.environ.get("IMAGESEARCH_SERVER", "127.0.0.1:50051")


def _serve(ns: argparse.Namespace) -> int:
    from imagesearch.app import ImageSearchServer

    settings = load_settings(ns)
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(ImageSearchServer(settings).run())
    return 0


def _models_setup(ns: argparse.Namespace) -> int:
    from imagesearch.models.setup import ensure_model_repository

    for path in ensure_model_repository(ns.model_repository, force=ns.force):
        print(f"wrote {path}")
    print(f"model repository ready: {ns.model_repository}")
    return 0


def _models_export_clip(ns: argparse.Namespace) -> int:
    from imagesearch.models.clip import export_clip

    done = export_clip(ns.checkpoint, ns.model_repository, ns.name, ns.open_clip_arch)
    print(f"wrote {done.image_onnx} (max |ONNX - PyTorch| {done.image_max_diff:.1e})")
    print(f"wrote {done.text_onnx} (max |ONNX - PyTorch| {done.text_max_diff:.1e})")
    print(f"CLIP model set ready: {done.dimension}-d, {done.image_size}px, version {done.version}; restart the "
          "server, then create collections with --model-set clip")
    return 0


def _client(ns: argparse.Namespace):
    from imagesearch_client import ImageSearchClient

    return ImageSearchClient(ns.server, timeout=ns.timeout)


def _print_collection(c) -> None:
    spaces = ", ".join(
        f"{name}{' (text)' if text else ''}: {model} v{version} {dim}-d"
        for name, (model, version, dim, text) in c.spaces.items()
    )
    if c.skip_nsfw_scoring:
        moderation = "no NSFW scoring"
    elif c.max_nsfw_score is not None:
        moderation = f"refuses NSFW score > {c.max_nsfw_score:g}"
    else:
        moderation = "NSFW scored"
    print(
        f"{c.name}\t{c.count} items\tmodel set {c.model_set or '?'} [{spaces}]\tindexed {c.indexed_count}"
        f"\t{moderation}"
    )


def _collections(ns: argparse.Namespace) -> int:
    with _client(ns) as client:
        if ns.action == "list":
            for c in client.list_collections():
                _print_collection(c)
        elif ns.action == "create":
            _print_collection(
                client.create_collection(
                    ns.name, ns.model_set, max_nsfw_score=ns.max_nsfw_score, skip_nsfw_scoring=ns.skip_nsfw_scoring
                )
            )
        elif ns.action == "get":
            _print_collection(client.get_collection(ns.name))
        else:
            client.delete_collection(ns.name)
            print(f"deleted {ns.name}")
    return 0


def _image_files(root: Path, recursive: bool) -> list[Path]:
    pattern = root.rglob("*") if recursive else root.glob("*")
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _index(ns: argparse.Namespace) -> int:
    from tqdm import tqdm

    from imagesearch_client import InsertItem

    files = _image_files(ns.directory, ns.recursive)
    if not files:
        print(f"no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in {ns.directory}", file=sys.stderr)
        return 1

    def items() -> Iterator[InsertItem]:
        for path in files:
            rel = path.relative_to(ns.directory).as_posix()
            # The relative path is the id, so indexing a folder again replaces instead of duplicating.
            yield InsertItem(
                image=path.read_bytes(), id=rel, metadata={"path": rel}, duplicate_policy=ns.duplicate_policy
            )

    failures: list[tuple[str, str, str]] = []
    with _client(ns) as client:
        if ns.create:
            try:
                client.create_collection(ns.collection, ns.model_set, skip_nsfw_scoring=ns.skip_nsfw_scoring)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
        with tqdm(total=len(files), unit="img", desc=f"indexing into {ns.collection}") as bar:
            for outcome in client.insert_stream(ns.collection, items()):
                if not outcome.ok:
                    failures.append((files[outcome.index].as_posix(), outcome.error_code, outcome.error_message))
                bar.update(1)
    print(f"indexed {len(files) - len(failures)} of {len(files)} images into {ns.collection}")
    if failures:
        print(f"{len(failures)} failed:", dict(Counter(code for _, code, _ in failures)), file=sys.stderr)
        for path, code, message in failures[:20]:
            print(f"  {path}: {code}: {message}", file=sys.stderr)
        if len(failures) > 20:
            print(f"  ... and {len(failures) - 20} more", file=sys.stderr)
    return 1 if failures else 0


def _filter(text: str | None):
    """A --filter value (the Filter message as JSON) as the message."""
    if not text:
        return None
    from google.protobuf import json_format

    from imagesearch.v1 import imagesearch_pb2 as pb

    try:
        return json_format.Parse(text, pb.Filter())
    except json_format.ParseError as exc:
        raise SystemExit(f"error: --filter is not a valid Filter in JSON: {exc}") from None


def _image_source(ns: argparse.Namespace) -> tuple[bytes, str]:
    """The image bytes of the positional file, or the --url to send instead."""
    if (ns.image is None) == (ns.url is None):
        raise SystemExit("error: give an image file or --url, not both")
    return (ns.image.read_bytes() if ns.image else b""), (ns.url or "")


def _insert(ns: argparse.Namespace) -> int:
    from imagesearch_client import InsertItem

    image, url = _image_source(ns)
    metadata = json.loads(ns.metadata) if ns.metadata else {}
    item = InsertItem(image=image, id=ns.id, metadata=metadata, image_url=url, duplicate_policy=ns.duplicate_policy)
    with _client(ns) as client:
        outcome = client.insert_outcome(ns.collection, item)
    if outcome.skipped:
        print(f"{outcome.id}\tskipped: duplicates the stored item (score {outcome.duplicate_score:.3f})")
    elif outcome.duplicate_of:
        kind = "exact" if outcome.duplicate_exact else f"near, score {outcome.duplicate_score:.3f}"
        print(f"{outcome.id}\tstored; duplicates {outcome.duplicate_of} ({kind})")
    else:
        print(outcome.id)
    return 0


def _moderate(ns: argparse.Namespace) -> int:
    image, url = _image_source(ns)
    with _client(ns) as client:
        result = client.moderate(image, image_url=url)
    label = "NSFW" if result.nsfw else "safe"
    print(f"{result.nsfw_score:.4f}\t{label} (threshold {result.threshold:g})")
    return 0


def _find_duplicates(ns: argparse.Namespace) -> int:
    with _client(ns) as client:
        groups = client.find_duplicates(ns.collection, threshold=ns.threshold, timeout=ns.timeout)
    if ns.json:
        print(json.dumps([g.__dict__ for g in groups], indent=2))
    else:
        for group in groups:
            print(" ".join(group.ids))
    return 0


def _search(ns: argparse.Namespace) -> int:
    if sum(x is not None for x in (ns.image, ns.url, ns.text)) != 1:
        print("give either an image file, --url or --text", file=sys.stderr)
        return 1
    with _client(ns) as client:
        if ns.text is not None:
            hits = client.search_text(
                ns.collection, ns.text, top_k=ns.top_k, min_score=ns.min_score, filter=_filter(ns.filter),
                max_nsfw_score=ns.max_nsfw_score,
            )
        else:
            image, url = _image_source(ns)
            hits = client.search(
                ns.collection, image, top_k=ns.top_k, min_score=ns.min_score, filter=_filter(ns.filter),
                image_url=url, max_nsfw_score=ns.max_nsfw_score,
            )
    if ns.json:
        print(json.dumps([h.__dict__ for h in hits], indent=2))
    else:
        for h in hits:
            print(f"{h.rank:>4}  {h.score:.4f}  {h.id}  {json.dumps(h.metadata)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface."""
    parser = argparse.ArgumentParser(prog="imagesearch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (starts a local Triton unless --triton-url)")
    add_arguments(serve)
    serve.set_defaults(func=_serve)

    models = sub.add_parser("models", help="prepare the Triton model repository")
    models_sub = models.add_subparsers(dest="action", required=True)
    setup = models_sub.add_parser(
        "setup", help="convert the packaged EfficientNet-Lite0 and all-MiniLM-L6-v2 weights to ONNX (offline model set)"
    )
    setup.add_argument("--model-repository", type=Path, default=Settings().model_repository)
    setup.add_argument("--force", action="store_true", help="export again even if the ONNX file exists")
    setup.set_defaults(func=_models_setup)
    export_clip = models_sub.add_parser(
        "export-clip", help="export a CLIP checkpoint's towers to ONNX as the clip_image/clip_text Triton models",
        description="Export a Hugging Face or OpenCLIP CLIP checkpoint's towers and tokenizer as the clip_image "
        "and clip_text Triton models.",
        epilog="""checkpoint forms:
  openai/clip-vit-base-patch32                   Hugging Face CLIP on the hub (internet once)
  ./my-clip                                      Hugging Face CLIP folder (save_pretrained)
  open_clip:ViT-B-32/laion2b_s34b_b79k           OpenCLIP architecture/pretrained tag (internet once)
  open_clip:hf-hub:ORG/REPO                      OpenCLIP model on the Hugging Face hub (internet once)
  ./my-open-clip                                 OpenCLIP folder with open_clip_config.json and weights
  weights.safetensors --open-clip-arch ViT-B-32  OpenCLIP state dict (.pt/.pth/.bin/.safetensors) of an
                                                 architecture: a built-in name or a model config JSON""",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export_clip.add_argument("checkpoint", help="the checkpoint, in one of the forms below")
    export_clip.add_argument(
        "--open-clip-arch", metavar="ARCH",
        help="CHECKPOINT is an OpenCLIP weights file of this architecture (built-in name or model config .json)",
    )
    export_clip.add_argument("--model-repository", type=Path, default=Settings().model_repository)
    export_clip.add_argument(
        "--name", help="model name recorded with collections (default: clip:<checkpoint> or open_clip:<checkpoint>)"
    )
    export_clip.set_defaults(func=_models_export_clip)

    def client_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--server", default=DEFAULT_SERVER, help="host:port of the server (env IMAGESEARCH_SERVER; default: %(default)s)")
        p.add_argument("--timeout", type=float, default=30.0, help="deadline of each call in seconds (default: %(default)s)")

    def skip_nsfw_scoring_option(p: argparse.ArgumentParser, when: str = "") -> None:
        p.add_argument(
            "--skip-nsfw-scoring", action="store_true",
            help=f"do not run the NSFW model on inserts{when}: ingest several times faster, for trusted "
            "catalogs; the items then have no NSFW score",
        )

    def duplicate_policy_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--duplicate-policy",
            choices=("allow", "skip", "reject", "ignore"),
            default="allow",
            help="when an image duplicates a stored one: store anyway (allow), keep the stored one (skip), "
            "fail with ALREADY_EXISTS (reject), or do not look for duplicates at all (ignore, the fastest); "
            "default: %(default)s",
        )

    collections = sub.add_parser("collections", help="create, list, describe or delete collections")
    collections_sub = collections.add_subparsers(dest="action", required=True)
    for action, text in (("create", "create a collection"), ("get", "describe a collection"), ("delete", "delete a collection and its items")):
        p = collections_sub.add_parser(action, help=text)
        p.add_argument("name")
        if action == "create":
            p.add_argument("--model-set", default="", help="offline (default) or clip (after `models export-clip`)")
            p.add_argument(
                "--max-nsfw-score", type=float, default=None,
                help="refuse inserts whose NSFW score (0..1) is above this (FAILED_PRECONDITION)",
            )
            skip_nsfw_scoring_option(p)
        client_options(p)
    client_options(collections_sub.add_parser("list", help="list collections"))
    collections.set_defaults(func=_collections)

    index = sub.add_parser("index", help="stream a folder of images into a collection")
    index.add_argument("directory", type=Path)
    index.add_argument("-c", "--collection", required=True)
    index.add_argument("-r", "--recursive", action="store_true", help="include sub-folders")
    index.add_argument("--create", action="store_true", help="create the collection if it does not exist")
    index.add_argument("--model-set", default="", help="model set of a collection made by --create (default: offline)")
    skip_nsfw_scoring_option(index, " (with --create)")
    duplicate_policy_option(index)
    client_options(index)
    index.set_defaults(func=_index)

    insert = sub.add_parser("insert", help="insert one image file, or the image at --url")
    insert.add_argument("image", type=Path, nargs="?")
    insert.add_argument("--url", default=None, help="http(s) URL for the server to download instead of a file")
    insert.add_argument("-c", "--collection", required=True)
    insert.add_argument("--id", default="", help="the item's id (default: the server makes a UUID)")
    insert.add_argument("--metadata", default=None, help='metadata as a JSON object, e.g. \'{"price": 59}\'')
    duplicate_policy_option(insert)
    client_options(insert)
    insert.set_defaults(func=_insert)

    search = sub.add_parser(
        "search", help="find the stored images most similar to an image file or --url, or matching --text"
    )
    search.add_argument("image", type=Path, nargs="?", help="query image file (or use --url or --text)")
    search.add_argument("--url", default=None, help="http(s) URL for the server to download instead of a file")
    search.add_argument("-t", "--text", help='describe the wanted images, e.g. "a beach at sunset"')
    search.add_argument("-c", "--collection", required=True)
    search.add_argument("-k", "--top-k", type=int, default=10)
    search.add_argument("--min-score", type=float, default=None)
    search.add_argument("--max-nsfw-score", type=float, default=None, help="leave out items scoring above this (0..1)")
    search.add_argument(
        "--filter",
        default=None,
        help='metadata filter as the Filter message in JSON, e.g. \'{"must": [{"match": {"key": "class", "integer": 3}}]}\'',
    )
    search.add_argument("--json", action="store_true", help="print the hits as JSON")
    client_options(search)
    search.set_defaults(func=_search)

    moderate = sub.add_parser("moderate", help="NSFW score of an image file or --url (nothing is stored)")
    moderate.add_argument("image", type=Path, nargs="?")
    moderate.add_argument("--url", default=None, help="http(s) URL for the server to download instead of a file")
    client_options(moderate)
    moderate.set_defaults(func=_moderate)

    dups = sub.add_parser("find-duplicates", help="list the groups of near-duplicate images in a collection")
    dups.add_argument("-c", "--collection", required=True)
    dups.add_argument("--threshold", type=float, default=None, help="pair score 0..1 (default: the server's, 0.90)")
    dups.add_argument("--json", action="store_true", help="print the groups (ids and scored pairs) as JSON")
    client_options(dups)
    dups.set_defaults(func=_find_duplicates)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `imagesearch` command."""
    ns = build_parser().parse_args(argv)
    try:
        return ns.func(ns)
    except grpc.RpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

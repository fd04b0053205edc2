"""`imagesearch reprocess COLLECTION`: re-run the models over a collection created with
keep_originals, on a running server (admin RPC; the key needs the admin role on it).

  --mode fill     compute what items lack (fingerprints, NSFW scores of items stored before
                  those existed), in place
  --mode reembed  re-embed every item into --target with the model set served now (e.g. a
                  new model version) while COLLECTION keeps serving; then switch the alias
                  clients use: `imagesearch alias switch ALIAS TARGET`

Resumable: after a crash, a stopped server or Ctrl-C, run the same command again; it skips
what is done. Run a reembed once more just before switching: it copies what was inserted
meanwhile and drops what was deleted.

Examples:
    imagesearch reprocess photos --mode fill
    imagesearch reprocess photos-v1 --mode reembed --target photos-v2
"""

from __future__ import annotations

import argparse
import sys

from imagesearch.commands.common import add_client_options, open_client


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Adds `reprocess`."""
    parser = subparsers.add_parser("reprocess", help="re-run the models over a keep_originals collection (server)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("collection", help="the collection (or alias) to re-process")
    parser.add_argument("--mode", choices=("fill", "reembed"), default="fill", help="default: %(default)s")
    parser.add_argument("--target", default="", help="reembed: the collection to build (created if missing)")
    parser.add_argument("--model-set", default="", help="reembed: the target's model set (default: the source's)")
    add_client_options(parser)
    parser.set_defaults(func=run)


def run(ns: argparse.Namespace) -> int:
    from tqdm import tqdm

    with open_client(ns) as client, tqdm(desc="reprocess", unit="item", file=sys.stderr, leave=False) as bar:
        last = None
        for last in client.admin.reprocess(ns.collection, ns.mode, ns.target, ns.model_set):
            bar.total, bar.n = last.total, last.done
            bar.refresh()
    print(f"{last.target}: {last.processed} re-run, {last.skipped} already done, {last.removed} removed, "
          f"{len(last.no_original)} without an original")
    return 0

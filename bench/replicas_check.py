"""Two real API server processes on one Qdrant: do concurrent near-copies stay one item?

    PYTHONPATH=server:clients/python .venv/bin/python -m bench.replicas_check \\
        --qdrant-url http://qdrant.example:6334 --rounds 200

It starts two `imagesearch serve` processes against the Qdrant given (the first starts a local
Triton, the second shares it; or pass --triton-url), creates a scratch collection, and runs
rounds: each round makes a new textured image and `--copies` near-copies of it (PNG and JPEG
re-encodings), inserts them all at once with duplicate_policy SKIP (every other one REJECT),
alternating between the two servers, then reads back what was stored. A round is a violation
when more than one copy is stored, or when an answer names an item that does not exist. It
prints the counts and exits 1 on any violation. The collection is deleted at the end.

What it shows that tests/test_replicas_dedup.py cannot: the claims protocol
(server/imagesearch/dedup/replicas.py) over a real Qdrant server or cluster, whose write
ordering, read consistency and conditional updates the in-process tests take on trust.
Against a cluster, point the two servers at different Qdrant nodes (--qdrant-url-b) to
exercise the replication path.

It cannot run on the project's CI machines: no Qdrant server can run there (docs/deploy.md,
"Several API replicas"). It has not been run against a real Qdrant yet.
`--address-a/--address-b` skip starting servers and use running ones (e.g. two replicas of a
deployment, port-forwarded).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np
from imagesearch_client import ImageSearchClient, InsertItem
from imagesearch_client.errors import error_metadata, error_reason
from PIL import Image

POLICIES = ("skip", "reject")


@dataclass
class Tally:
    rounds: int = 0
    inserts: int = 0
    stored_twice: int = 0  # rounds where more than one copy was stored (the guarantee broken)
    stored_none: int = 0  # rounds where no copy was stored (a lost insert)
    dangling: int = 0  # answers naming an item that does not exist
    errors: int = 0  # calls that failed otherwise

    @property
    def violations(self) -> int:
        return self.stored_twice + self.stored_none + self.dangling


def near_copies(seed: int, count: int) -> list[bytes]:
    """A textured image and re-encodings of it (near-copies by the duplicate rule)."""
    rng = np.random.default_rng(seed)
    image = Image.fromarray(rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)).resize((256, 192), Image.BILINEAR)
    copies = []
    for k in range(count):
        out = io.BytesIO()
        if k == 0:
            image.save(out, "PNG")
        else:
            image.save(out, "JPEG", quality=95 - 7 * k)
        copies.append(out.getvalue())
    return copies


def one_round(clients: list[ImageSearchClient], collection: str, seed: int, copies: int, tally: Tally) -> None:
    """Insert `copies` near-copies at once through alternating servers; check what was stored."""
    images = near_copies(seed, copies)
    ids = [f"r{seed}-c{k}" for k in range(copies)]

    def insert(k: int) -> str | None:
        item = InsertItem(image=images[k], id=ids[k], duplicate_policy=POLICIES[k % 2])
        try:
            result = clients[k % len(clients)].create_item(collection, item)
        except grpc.RpcError as error:
            if error_reason(error) == "DUPLICATE_IMAGE":
                return error_metadata(error).get("item")
            tally.errors += 1
            print(f"round {seed}: insert {ids[k]} failed: {error.code().name} {error.details()}", file=sys.stderr)
            return None
        return result.duplicate.id if result.duplicate is not None else None

    with ThreadPoolExecutor(max_workers=copies) as pool:
        named = list(pool.map(insert, range(copies)))
    tally.rounds += 1
    tally.inserts += copies
    stored = [item.id for item in clients[0].batch_get_items(collection, ids, allow_missing=True)]
    if len(stored) > 1:
        tally.stored_twice += 1
        print(f"round {seed}: VIOLATION, {len(stored)} copies stored: {stored}", file=sys.stderr)
    if not stored:
        tally.stored_none += 1
        print(f"round {seed}: VIOLATION, no copy stored", file=sys.stderr)
    for name in named:
        if name is not None and name not in stored:
            tally.dangling += 1
            print(f"round {seed}: VIOLATION, an answer names {name!r}, which is not stored", file=sys.stderr)


def run(clients: list[ImageSearchClient], rounds: int, copies: int) -> Tally:
    collection = f"replicas-check-{uuid.uuid4().hex[:8]}"
    clients[0].create_collection(collection, skip_nsfw_scoring=True, description="bench/replicas_check.py scratch")
    tally = Tally()
    try:
        for seed in range(rounds):
            one_round(clients, collection, seed, copies, tally)
    finally:
        clients[0].delete_collection(collection)
    return tally


def _servers(ns: argparse.Namespace, stack: ExitStack) -> list[str]:
    """The two servers' addresses: given, or two `imagesearch serve` processes started here."""
    if ns.address_a and ns.address_b:
        return [ns.address_a, ns.address_b]
    from imagesearch.launcher.api_server import ServerProcess

    root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="replicas-check-")))
    common = ["--qdrant-api-key-file", ns.qdrant_api_key_file] if ns.qdrant_api_key_file else []
    triton = ["--triton-url", ns.triton_url] if ns.triton_url else []
    first = stack.enter_context(
        ServerProcess(root / "a", [*common, *triton, "--qdrant-url", ns.qdrant_url], metrics_port=0, http_port=0)
    )
    shared = triton or ["--triton-url", first.triton_url]
    second = stack.enter_context(
        ServerProcess(root / "b", [*common, *shared, "--qdrant-url", ns.qdrant_url_b or ns.qdrant_url],
                      metrics_port=0, http_port=0)
    )
    return [first.address, second.address]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.replicas_check",
        description="Start two API servers on one Qdrant, insert near-copies through both at once, and report "
        "rounds where more than one copy was stored (needs a Qdrant server: none runs on the CI machines).",
    )
    parser.add_argument("--qdrant-url", help="Qdrant URL both servers use (gRPC port, e.g. http://host:6334)")
    parser.add_argument("--qdrant-url-b", help="another node of the same cluster for the second server")
    parser.add_argument("--qdrant-api-key-file", help="file holding the Qdrant API key, if the server wants one")
    parser.add_argument("--triton-url", help="an external Triton both servers use (default: the first starts one)")
    parser.add_argument("--address-a", help="use this running API server instead of starting one (with --address-b)")
    parser.add_argument("--address-b", help="the second running API server")
    parser.add_argument("--rounds", type=int, default=100, help="rounds of concurrent near-copies (default 100)")
    parser.add_argument("--copies", type=int, default=4, help="near-copies inserted at once per round (default 4)")
    ns = parser.parse_args(argv)
    if not (ns.address_a and ns.address_b) and not ns.qdrant_url:
        parser.error("give --qdrant-url (or two running servers with --address-a and --address-b)")
    if not 2 <= ns.copies <= 8:
        parser.error("--copies must be 2-8")
    started = time.monotonic()
    with ExitStack() as stack:
        addresses = _servers(ns, stack)
        clients = [stack.enter_context(ImageSearchClient(address, timeout=60)) for address in addresses]
        tally = run(clients, ns.rounds, ns.copies)
    print(
        f"{tally.rounds} rounds, {tally.inserts} inserts through {len(addresses)} servers in "
        f"{time.monotonic() - started:.0f} s: {tally.stored_twice} rounds stored two copies or more, "
        f"{tally.stored_none} stored none, {tally.dangling} answers named a missing item, {tally.errors} other errors"
    )
    return 1 if tally.violations or tally.errors else 0


if __name__ == "__main__":
    sys.exit(main())

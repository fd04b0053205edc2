"""Issue 14's two headline ratios in a few minutes, on one real server (local Triton +
embedded store): ImportItems images/s against the raw encoder, and one-client SearchItems
p50 against in-process encode + search.

`python -m bench.ratios [--images 300] [--rounds 2] [--queries 100]`:

- ingest: the raw encoder (in-process, batch 4, bench.encoder) and the server's ImportItems
  of the same photos, embed only and with the defaults (NSFW score, duplicate lookup),
  alternated `--rounds` times; medians and their ratios to raw;
- query: with the defaults' collection in place, SearchItems from one client, interleaved
  image by image with the same image through Triton directly and the in-process
  reference (bench.query), for photos stored in the collection and photos that are not.

The full suites (`python -m bench server`, `python -m bench.ingest`) measure more and
write docs/benchmarks.md; this one prints only, for a quick before/after.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from bench.common import corel_images, machine_info, print_machine
from bench.encoder import InProcessEncoder
from bench.ingest import ALL_CHECKS, EMBED_ONLY, server_ingest
from bench.query import InProcessReference, one_client_interleaved
from imagesearch.launcher.api_server import ServerProcess

RAW_BATCH = 4


async def _ingest(server: ServerProcess, encoder: InProcessEncoder, images: list[bytes], rounds: int) -> None:
    rates: dict[str, list[float]] = {"raw encoder": [], "server, embed only": [], "server, defaults": []}
    await server_ingest(server.address, "warm-up", images[:20], EMBED_ONLY)
    for round_ in range(rounds):
        rates["raw encoder"].append(encoder.throughput(images, RAW_BATCH))
        rates["server, embed only"].append(await server_ingest(server.address, f"embed-{round_}", images, EMBED_ONLY))
        rates["raw encoder"].append(encoder.throughput(images, RAW_BATCH))
        rates["server, defaults"].append(await server_ingest(server.address, f"defaults-{round_}", images, ALL_CHECKS))
    raw = statistics.median(rates["raw encoder"])
    for label, values in rates.items():
        median = statistics.median(values)
        print(f"ingest {label}: {median:.1f} images/s (runs {', '.join(f'{v:.1f}' for v in values)}), "
              f"ratio to raw {median / raw:.3f}")


async def _query(server: ServerProcess, encoder: InProcessEncoder, stored: list[bytes], new: list[bytes],
                 reference_dir: Path) -> None:
    collection = "defaults-0"  # every stored photo, inserted with the defaults by _ingest
    reference = await InProcessReference.open(encoder, stored, reference_dir)
    try:
        for label, queries in (("stored photos", stored[: len(new)]), ("new photos", new)):
            one = await one_client_interleaved(server.address, server.triton_url, collection, reference, queries)
            p50 = {key: statistics.median(values) * 1000 for key, values in one.items()}
            baseline = statistics.median(e + s for e, s in zip(one["encode"], one["search"])) * 1000
            print(f"query, {label} ({len(queries)}): SearchItems p50 {p50['server']:.2f} ms, Triton directly "
                  f"{p50['triton']:.2f} ms, in-process encode {p50['encode']:.2f} + search {p50['search']:.2f} ms; "
                  f"ratio to encode + search {p50['server'] / baseline:.3f}")
    finally:
        await reference.close()


async def _run(images: int, rounds: int, queries: int) -> None:
    photos = corel_images(images + queries)
    stored, new = photos[:images], photos[images:]
    encoder = InProcessEncoder()
    with tempfile.TemporaryDirectory(prefix="bench-ratios-") as tmp:
        with ServerProcess(Path(tmp) / "server", metrics_port=0, log_level="WARNING") as server:
            await _ingest(server, encoder, stored, rounds)
            await _query(server, encoder, stored, new, Path(tmp) / "reference")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ratios", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300, help="Corel photos ingested (and stored for queries)")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of raw encoder and server ingest")
    parser.add_argument("--queries", type=int, default=100, help="queries of each kind (stored photos, new ones)")
    args = parser.parse_args(argv)
    if args.images < args.queries or args.images + args.queries > 1000:
        parser.error("need queries <= images and images + queries <= 1000 (the Corel photos)")
    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.ratios " + " ".join(argv or sys.argv[1:]))
    asyncio.run(_run(args.images, args.rounds, args.queries))
    return 0


if __name__ == "__main__":
    sys.exit(main())

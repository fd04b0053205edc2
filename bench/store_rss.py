"""What grows in the serving process when items are replaced and deleted (the soak's
writer, without Triton): the embedded store in-process, a writer replacing or deleting
50 ids with offline-set-sized points (1280 + 384 floats, a 16 KB fingerprint), a search
every 10 writes, automatic index builds at the store's defaults. Prints, every --every
writes, RSS split into anonymous memory (heap: what a leak grows) and memory-mapped file
pages (the engine's WAL and segments), Python's traced memory when --tracemalloc, and the
shard's size on disk.

    PYTHONPATH=server:clients/python python -m bench.store_rss --writes 6000
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from bench.common import directory_bytes, machine_info, print_machine, rss_parts
from imagesearch.store.base import ModelRecord, ModelSetRecord, PointToStore, SpaceRecord
from imagesearch.store.edge import EdgeStore
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.shard_config import IndexSettings

SPACES = (("image", 1280), ("text", 384))
MODEL_SET = ModelSetRecord("rss", tuple(SpaceRecord(name, ModelRecord(name, "1", dim)) for name, dim in SPACES))
COLLECTION = "rss"
IDS = 50


def point(rng: np.random.Generator, item: str) -> PointToStore:
    vectors = {}
    for name, dim in SPACES:
        v = rng.normal(size=dim).astype(np.float32)
        vectors[name] = v / np.linalg.norm(v)
    thumb = rng.bytes(12_000).hex()[:16_000]
    return PointToStore(id=item, vectors=vectors, metadata={"round": float(rng.random())},
                        fingerprint={"thumb": thumb, "phash": "0" * 16})


def live_parts(collection_dir: Path) -> str:
    """The live shard's segments and WAL on disk, MiB (the other shard directory, when there
    is one, is an index build's copy)."""
    live = CollectionPaths(collection_dir).shard
    return f"{directory_bytes(live / 'segments') / 2**20:.0f} / {directory_bytes(live / 'wal') / 2**20:.0f}"


async def run(data_dir: Path, writes: int, every: int, settings: IndexSettings, fill: int) -> None:
    store = EdgeStore(data_dir, settings)
    rng = np.random.default_rng(1)
    pick = random.Random(7)
    try:
        await store.create_collection(COLLECTION, MODEL_SET)
        for start in range(0, fill, 100):
            await store.upsert(COLLECTION, [point(rng, f"f{k}") for k in range(start, min(start + 100, fill))])
        shard = data_dir / "collections" / COLLECTION
        print("| writes | RSS MiB | anon MiB | mapped files MiB | traced MiB | shard MiB | live segments / WAL MiB | s |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        started = time.monotonic()
        for k in range(writes + 1):
            if k % every == 0:
                parts = rss_parts(os.getpid())
                traced = tracemalloc.get_traced_memory()[0] / 2**20 if tracemalloc.is_tracing() else float("nan")
                print(f"| {k} | {sum(parts.values()) / 2**20:.0f} | {parts['anon'] / 2**20:.0f} | "
                      f"{(parts['file'] + parts['shmem']) / 2**20:.0f} | {traced:.1f} | "
                      f"{directory_bytes(shard) / 2**20:.0f} | {live_parts(shard)} | {time.monotonic() - started:.0f} |",
                      flush=True)
            item = f"w{pick.randrange(IDS)}"
            if pick.random() < 0.25:
                await store.delete(COLLECTION, [item])
            else:
                await store.upsert(COLLECTION, [point(rng, item)])
            if k % 10 == 0:
                await store.search(COLLECTION, point(rng, "q").vectors["image"], 10)
        for task in list(store._builds.values()):
            await asyncio.gather(task, return_exceptions=True)
        parts = {f"{d.name}/{sub.name}": directory_bytes(sub) if sub.is_dir() else sub.stat().st_size
                 for d in shard.iterdir() if d.is_dir() for sub in d.iterdir()}
        print("on disk at the end, MiB:", {k: round(v / 2**20, 1) for k, v in sorted(parts.items()) if v > 2**20})
    finally:
        await store.close()


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.store_rss", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writes", type=int, default=6000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--fill", type=int, default=300, help="points stored before the writer starts")
    parser.add_argument("--dead-points-min", type=int, default=IndexSettings.dead_points_min)
    parser.add_argument("--tracemalloc", action="store_true")
    args = parser.parse_args(argv)
    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.store_rss "
                  + " ".join(argv if argv is not None else sys.argv[1:]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.tracemalloc:
        tracemalloc.start()
    settings = IndexSettings(dead_points_min=args.dead_points_min)
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        asyncio.run(run(Path(tmp), args.writes, args.every, settings, args.fill))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

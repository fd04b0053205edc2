"""Benchmark 5: search latency while the embedded store builds its HNSW index.

The store builds on a copy of the shard in a child process (store/indexer.py) because
qdrant-edge's optimize() holds the GIL for minutes. This measures what is left of that
cost for a query in the serving process: the child's competition for the CPU cores, the
copy of the shard before the build and the swap after it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bench.common import latency_summary

COLLECTION = "bench"


async def timed_searches(store: Any, queries: Sequence[np.ndarray], limit: int = 10) -> list[float]:
    """Latency in seconds of each query, run one after the other through the store."""
    latencies = []
    for query in queries:
        started = time.perf_counter()
        await store.search(COLLECTION, query, limit)
        latencies.append(time.perf_counter() - started)
    return latencies


async def queries_during_build(store: Any, queries: Sequence[np.ndarray]) -> dict[str, Any]:
    """Build the collection's index while querying it in a loop; compare with no build.

    The idle figures are taken just before the build on the same, still unindexed,
    collection, so both sides search the same segments and differ only by the build.
    Returns the build's wall time, both latency summaries and their p50/p99 ratios.
    """
    idle = await timed_searches(store, queries)
    started = time.perf_counter()
    build = asyncio.create_task(store.build_index(COLLECTION))
    during: list[float] = []
    ends: list[float] = []
    position = 0
    while not build.done():
        # One query at a time, cycling, so the loop notices the end of the build quickly.
        during += await timed_searches(store, [queries[position % len(queries)]])
        ends.append(time.perf_counter() - started)
        position += 1
    await build  # re-raises a failed build
    build_s = time.perf_counter() - started
    idle_summary, during_summary = latency_summary(idle), latency_summary(during)
    # Broad CPU contention slows many queries a little; the copy and the swap stall a few
    # a lot. The share above 2x the idle p99 and the maximum tell the two apart.
    slow_threshold_s = 2 * idle_summary["p99_ms"] / 1000
    return {
        "build_s": round(build_s, 2),
        "idle": idle_summary,
        "during_build": during_summary,
        "during_build_max_ms": round(max(during, default=0.0) * 1000, 1),
        # When the slowest queries started, in seconds from the build's start (match them
        # with the build's logged steps: copy, optimize, load, swap, close).
        "slowest": [
            {"started_s": round(ends[i] - during[i], 2), "ms": round(during[i] * 1000, 1)}
            for i in sorted(range(len(during)), key=lambda i: -during[i])[:5]
        ],
        "share_over_2x_idle_p99": round(sum(t > slow_threshold_s for t in during) / max(len(during), 1), 4),
        "p50_ratio": round(during_summary["p50_ms"] / idle_summary["p50_ms"], 3),
        "p99_ratio": round(during_summary["p99_ms"] / idle_summary["p99_ms"], 3),
    }


async def _swap_stall(size: int, quantization: str, data_dir: Path) -> dict[str, Any]:
    from bench.store_scaling import SPACE, UPSERT_BATCH, synthetic_vectors
    from imagesearch.store.base import ModelRecord, ModelSetRecord, PointToStore, SpaceRecord
    from imagesearch.store.edge import EdgeStore
    from imagesearch.store.shard_config import IndexSettings

    vectors = synthetic_vectors(size, seed=1)
    store = EdgeStore(data_dir, IndexSettings(threshold=0, quantization=quantization))
    try:
        record = ModelSetRecord("bench", (SpaceRecord(SPACE, ModelRecord("bench", "1", vectors.shape[1])),))
        await store.create_collection(COLLECTION, record)
        for start in range(0, size, UPSERT_BATCH):
            batch = vectors[start : start + UPSERT_BATCH]
            await store.upsert(COLLECTION, [PointToStore(id=str(start + i), vectors={SPACE: v}) for i, v in enumerate(batch)])
        figures = await queries_during_build(store, synthetic_vectors(50, seed=2))
        # A second build: the one a serving collection does after its first (segments exist).
        await store.upsert(COLLECTION, [PointToStore(id=f"x{i}", vectors={SPACE: v}) for i, v in enumerate(vectors[:1000])])
        again = await queries_during_build(store, synthetic_vectors(50, seed=3))
        return {"first_build": figures, "second_build": again}
    finally:
        await store.close()


def main(argv: "list[str] | None" = None) -> int:
    """`python -m bench.build_contention [--size 100k] [--quantization int8]`: the longest a
    query waited during an index build and its swap, and the p50/p99 ratios."""
    import argparse
    import json
    import sys
    import tempfile

    from bench.__main__ import parse_size
    from bench.common import machine_info, print_machine

    parser = argparse.ArgumentParser(prog="python -m bench.build_contention", description=main.__doc__)
    parser.add_argument("--size", default="100k")
    parser.add_argument("--quantization", default="int8", choices=["none", "int8"])
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.build_contention "
                  + " ".join(argv if argv is not None else sys.argv[1:]))
    with tempfile.TemporaryDirectory(prefix="bench-swap-") as tmp:
        result = asyncio.run(_swap_stall(parse_size(args.size), args.quantization, Path(tmp)))
    for name, figures in result.items():
        print(f"{name}: build {figures['build_s']} s, longest query wait {figures['during_build_max_ms']} ms, "
              f"p50 {figures['during_build']['p50_ms']} ms (idle {figures['idle']['p50_ms']}), "
              f"p99 {figures['during_build']['p99_ms']} ms (idle {figures['idle']['p99_ms']}); slowest "
              + ", ".join(f"{q['ms']} ms at {q['started_s']} s" for q in figures["slowest"]))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

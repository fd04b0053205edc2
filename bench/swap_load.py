"""Where an index swap's time goes: loading an indexed shard, by memory placement.

The serving process loads the shard a child built (store/indexer.py); qdrant-edge's load
holds the GIL, so its duration is the longest any request waits. This builds one 100k
(default) int8 shard per placement of the quantized vectors, then alternates loads of
them in one process while a ticker thread records the longest gap between its 1 ms sleeps
(the time the GIL was held by someone else), and times queries right after each load
(page faults of memory-mapped files land on the first queries).

    PYTHONPATH=server:clients/python python -m bench.swap_load --size 100k --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from qdrant_edge import (
    Distance,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeVectorParams,
    HnswIndexConfig,
    Memory,
    Point,
    Query,
    QuantizationSearchParams,
    QueryRequest,
    ScalarQuantizationConfig,
    ScalarType,
    SearchParams,
    UpdateOperation,
)

from bench.store_scaling import SPACE, exact_top_k, recall, synthetic_vectors

# Placement of the int8 copy: in RAM (copied in at load: the store's setting until this
# round), memory-mapped and populated at load (Cached), memory-mapped only (Cold).
PLACEMENTS = {"int8-ram": Memory.Pinned, "int8-cached": Memory.Cached, "int8-mmap": Memory.Cold}
PARAMS = SearchParams(hnsw_ef=128, quantization=QuantizationSearchParams(rescore=True, oversampling=2.0))


class GilTicker:
    """A thread sleeping 1 ms at a time; the longest gap between wake-ups is how long it
    could not get the GIL (or the CPU)."""

    def __init__(self) -> None:
        self.longest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last)
            last = now

    def __enter__(self) -> "GilTicker":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def config(placement: Memory) -> EdgeConfig:
    quantization = ScalarQuantizationConfig(type=ScalarType.Int8, quantile=0.99, memory=placement)
    return EdgeConfig(
        vectors={SPACE: EdgeVectorParams(size=1280, distance=Distance.Cosine, quantization_config=quantization,
                                         memory=Memory.Cold)},
        hnsw_config=HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
        optimizers=EdgeOptimizersConfig(indexing_threshold=1),
    )


def build(path: Path, placement: Memory, size: int) -> float:
    vectors = synthetic_vectors(size, seed=1)
    shard = EdgeShard.create(str(path), config(placement))
    for start in range(0, size, 1000):
        points = [Point(str(uuid.UUID(int=i + 1)), {SPACE: vectors[i].tolist()}, {"id": str(i)})
                  for i in range(start, min(start + 1000, size))]
        shard.update(UpdateOperation.upsert_points(points))
    started = time.perf_counter()
    shard.optimize()
    shard.flush()
    shard.close()
    return time.perf_counter() - started


def timed_load(path: Path, queries: Any, truth: list[set[int]], warm: bool = False) -> dict[str, float]:
    with GilTicker() as ticker:
        started = time.perf_counter()
        shard = EdgeShard.load(str(path))
        load_s = time.perf_counter() - started
    warm_s = 0.0
    if warm:
        with GilTicker() as warm_ticker:
            started = time.perf_counter()
            thread = threading.Thread(target=warm_page_cache, args=(path,))
            thread.start()
            thread.join()
            warm_s = time.perf_counter() - started
    first, found = [], []
    for query in list(queries) * 3:
        begun = time.perf_counter()
        hits = shard.query(QueryRequest(query=Query.Nearest(query.tolist(), using=SPACE), limit=10, params=PARAMS,
                                        with_payload=True))
        first.append(time.perf_counter() - begun)
        found.append({int(hit.payload["id"]) for hit in hits})
    started = time.perf_counter()
    shard.close()
    close_s = time.perf_counter() - started
    return {"load_ms": load_s * 1000, "gil_gap_ms": ticker.longest * 1000, "warm_ms": warm_s * 1000,
            "warm_gil_gap_ms": warm_ticker.longest * 1000 if warm else 0.0, "close_ms": close_s * 1000,
            "first_query_ms": first[0] * 1000, "first_100_p50_ms": statistics.median(first[:100]) * 1000,
            "query_max_ms": max(first) * 1000, "last_100_p50_ms": statistics.median(first[-100:]) * 1000,
            "recall_at_10": recall(found[: len(truth)], truth)}


def warm_page_cache(path: Path) -> None:
    from imagesearch.store.layout import warm_page_cache as warm

    warm(path)


def main(argv: "list[str] | None" = None) -> int:
    from bench.__main__ import parse_size
    from bench.common import machine_info, print_machine

    parser = argparse.ArgumentParser(prog="python -m bench.swap_load")
    parser.add_argument("--size", default="100k")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build the shards here (reused when present)")
    args = parser.parse_args(argv)
    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.swap_load "
                  + " ".join(argv if argv is not None else sys.argv[1:]))
    size = parse_size(args.size)
    queries = synthetic_vectors(100, seed=2)
    truth = exact_top_k(synthetic_vectors(size, seed=1), queries)
    with tempfile.TemporaryDirectory(prefix="bench-swapload-") as tmp:
        root = args.keep or Path(tmp)
        for name, placement in PLACEMENTS.items():
            if not (root / name).exists():
                print(f"{name}: built in {build(root / name, placement, size):.1f} s", flush=True)
        sides = {name: (name, False) for name in PLACEMENTS} | {"int8-mmap+warm": ("int8-mmap", True)}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, (directory, warm) in sides.items():  # alternating: both see the same machine
                runs[name].append(timed_load(root / directory, queries, truth, warm))
                print(name, json.dumps({k: round(v, 1) for k, v in runs[name][-1].items()}), flush=True)
    summary = {name: {k: round(statistics.median(r[k] for r in rs), 3 if k == "recall_at_10" else 1) for k in rs[0]}
               for name, rs in runs.items()}
    for name, figures in summary.items():
        print(f"{name} medians: {json.dumps(figures)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark 4 (and 5): the embedded vector store at 10k, 100k, 1M... synthetic points.

Everything except the keyword filter goes through EdgeStore, the class the server uses
(upsert, search, build_index in a child process). The filter part goes to qdrant-edge's
EdgeShard on the same shard files while the store has them closed, so that the payload
index exists before the first point: a keyword payload index on the tag is created right after the collection
(before any point, as a filter-aware store would, because the HNSW build adds per-value
graph links only for fields indexed by then; indexed afterwards, a 10 % filter found 5 %
of the true neighbours at 100k), and the filtered queries run after the store is closed.

Vectors are synthetic but structured like image embeddings: a mixture of clusters in a
low-dimensional latent space mapped to the encoder's 1280 dimensions, plus isotropic
noise. Uniformly random unit vectors in 1280-d would be a worst case for any graph
index (every point is nearly equidistant) and nothing like what the encoder produces.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from qdrant_edge import (
    EdgeShard,
    FieldCondition,
    Filter,
    MatchValue,
    PayloadSchemaType,
    Query,
    QueryRequest,
    SearchParams,
    UpdateOperation,
)

from bench.build_contention import COLLECTION, queries_during_build, timed_searches
from bench.common import Outcome, directory_bytes, format_table, goal, latency_summary, rss_bytes
from imagesearch.store.base import ModelRecord, ModelSetRecord, PointToStore, SpaceRecord
from imagesearch.store.points import METADATA_KEY
from imagesearch.store.edge import EdgeStore
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.shard_config import IndexSettings

# The one vector space of the benchmark collections.
SPACE = "image"

DIMENSION = 1280
TOP_K = 10
UPSERT_BATCH = 256
TAG_KEY = "tag"
TAG_FIELD = f"{METADATA_KEY}.{TAG_KEY}"  # the store nests caller metadata under METADATA_KEY
TAGS = 10  # the filter keeps one tag: 10 % of the points
LATENT_DIMENSION = 48
CLUSTERS = 200
NOISE = 0.3  # isotropic part of each vector's norm before normalisation


def synthetic_vectors(count: int, seed: int, dimension: int = DIMENSION) -> np.ndarray:
    """`count` unit vectors from a fixed cluster mixture; the seed picks the samples only.

    The mixture itself (centres, projection) is fixed by a separate seed, so points and
    queries drawn with different seeds come from the same distribution.
    """
    shape_rng = np.random.default_rng(1280)
    centres = shape_rng.normal(size=(CLUSTERS, LATENT_DIMENSION)) * 2.0
    projection = shape_rng.normal(size=(LATENT_DIMENSION, dimension)).astype(np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((count, dimension), dtype=np.float32)
    for start in range(0, count, 65_536):  # chunks bound the temporary memory at 1M
        n = min(65_536, count - start)
        latent = centres[rng.integers(0, CLUSTERS, n)] + rng.normal(size=(n, LATENT_DIMENSION))
        chunk = (latent.astype(np.float32) @ projection) / np.sqrt(LATENT_DIMENSION)
        chunk /= np.linalg.norm(chunk, axis=1, keepdims=True)
        chunk += rng.normal(scale=NOISE / np.sqrt(dimension), size=(n, dimension)).astype(np.float32)
        out[start : start + n] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return out


def tag_of(index: int) -> str:
    return f"t{index % TAGS}"


def exact_top_k(vectors: np.ndarray, queries: np.ndarray, candidates: np.ndarray | None = None) -> list[set[int]]:
    """Ids of the exact top-k by cosine (numpy), optionally among `candidates` only."""
    pool = vectors if candidates is None else vectors[candidates]
    result = []
    for query in queries:
        scores = pool @ query
        top = np.argpartition(-scores, TOP_K)[:TOP_K]
        ids = top if candidates is None else candidates[top]
        result.append({int(i) for i in ids})
    return result


def recall(found: Sequence[set[int]], truth: Sequence[set[int]]) -> float:
    """Mean recall@k: the share of the exact top-k each query found."""
    return float(np.mean([len(f & t) / len(t) for f, t in zip(found, truth)]))


async def store_hits(store: EdgeStore, queries: np.ndarray) -> list[set[int]]:
    """The store's top-k ids (our ids are the row numbers) for each query."""
    return [{int(hit.id) for hit in await store.search(COLLECTION, q, TOP_K)} for q in queries]


def add_keyword_index(shard_dir: Path) -> None:
    """Create the keyword payload index on the tag field of a closed shard."""
    shard = EdgeShard.load(str(shard_dir))
    try:
        shard.update(UpdateOperation.create_field_index(TAG_FIELD, PayloadSchemaType.Keyword))
        shard.flush()
    finally:
        shard.close()


def filtered_queries(
    shard_dir: Path, vectors: np.ndarray, queries: np.ndarray, params: SearchParams
) -> dict[str, Any]:
    """Keyword-filtered search on the built shard, with a payload index on the tag, with
    the store's search parameters. The shard is the one the store just built and closed.
    """
    shard = EdgeShard.load(str(shard_dir))
    try:
        candidates = np.arange(3, len(vectors), TAGS)  # the points tagged tag_of(3)
        truth = exact_top_k(vectors, queries, candidates)
        request_filter = Filter(must=[FieldCondition(key=TAG_FIELD, match=MatchValue(tag_of(3)))])
        latencies, found = [], []
        for query in queries:
            request = QueryRequest(
                limit=TOP_K,
                query=Query.Nearest(query.tolist(), using=SPACE),
                with_payload=True,
                filter=request_filter,
                params=params,
            )
            started = time.perf_counter()
            hits = shard.query(request)
            latencies.append(time.perf_counter() - started)
            found.append({int(hit.payload["id"]) for hit in hits})
    finally:
        shard.close()
    return {
        "latency": latency_summary(latencies),
        "recall_at_10": round(recall(found, truth), 4),
    }


async def measure_size(count: int, query_count: int, work_dir: Path, quantization: str = "none") -> dict[str, Any]:
    """Every figure of benchmark 4 (and 5) for one collection size and quantization."""
    print(f"store scaling: {count:,} points, quantization {quantization}, generating vectors", flush=True)
    vectors = synthetic_vectors(count, seed=1)
    queries = synthetic_vectors(query_count, seed=2)
    truth = exact_top_k(vectors, queries)
    settings = IndexSettings(threshold=0, quantization=quantization)  # no automatic build: timed here
    # `.shard` is read at each use: an index build swaps the live shard directory.
    paths = CollectionPaths(work_dir / "collections" / COLLECTION)
    rss_before = rss_bytes(os.getpid())
    store = EdgeStore(work_dir, settings)
    await store.create_collection(
        COLLECTION, ModelSetRecord("synthetic", (SpaceRecord(SPACE, ModelRecord("synthetic", "1", DIMENSION)),))
    )
    await store.close()
    add_keyword_index(paths.shard)
    store = EdgeStore(work_dir, settings)
    try:
        started = time.perf_counter()
        for start in range(0, count, UPSERT_BATCH):
            batch = [
                PointToStore(id=str(i), vectors={SPACE: vectors[i]}, metadata={TAG_KEY: tag_of(i)})
                for i in range(start, min(start + UPSERT_BATCH, count))
            ]
            await store.upsert(COLLECTION, batch)
        upsert_rate = count / (time.perf_counter() - started)
        print(f"  upserted at {upsert_rate:,.0f} points/s; building the index while querying", flush=True)
        unindexed_recall = recall(await store_hits(store, queries[:20]), truth[:20])
        contention = await queries_during_build(store, list(queries))
        print(f"  built in {contention['build_s']:.1f} s", flush=True)
        await timed_searches(store, queries[:10])  # warm the freshly loaded shard
        indexed = latency_summary(await timed_searches(store, list(queries)))
        indexed_recall = recall(await store_hits(store, queries), truth)
        info = await store.get_collection(COLLECTION)
        rss_store = rss_bytes(os.getpid()) - rss_before
    finally:
        await store.close()
    return {
        "points": count,
        "quantization": quantization,
        "indexed_points": info.indexed_count,
        "upsert_points_per_s": round(upsert_rate, 1),
        "build_s": contention["build_s"],
        "exact_unindexed": {**contention["idle"], "recall_at_10": round(unindexed_recall, 4)},
        "hnsw": {**indexed, "recall_at_10": round(indexed_recall, 4), "hnsw_ef": settings.hnsw_ef},
        "hnsw_filtered": filtered_queries(paths.shard, vectors, queries, settings.search_params()),
        "during_build": contention,
        "store_rss_mib": round(rss_store / 2**20, 1),
        "raw_vectors_mib": round(vectors.nbytes / 2**20, 1),
        "disk_mib": round(directory_bytes(work_dir) / 2**20, 1),
    }


def run(sizes: Sequence[int], query_count: int, quantizations: Sequence[str] = ("none",)) -> list[Outcome]:
    """Measure every size with every quantization; one outcome for benchmark 4 and one for
    benchmark 5."""
    per_size = []
    for quantization in quantizations:
        for count in sizes:
            with tempfile.TemporaryDirectory(prefix=f"bench-store-{count}-") as tmp:
                per_size.append(asyncio.run(measure_size(count, query_count, Path(tmp), quantization)))
    scaling_rows = [
        [
            f"{r['points']:,}", r["quantization"], f"{r['upsert_points_per_s']:,.0f}", r["build_s"],
            r["exact_unindexed"]["p50_ms"], r["exact_unindexed"]["p99_ms"],
            r["hnsw"]["p50_ms"], r["hnsw"]["p99_ms"], r["hnsw"]["recall_at_10"],
            r["hnsw_filtered"]["latency"]["p50_ms"], r["hnsw_filtered"]["latency"]["p99_ms"],
            r["hnsw_filtered"]["recall_at_10"],
            r["store_rss_mib"], r["raw_vectors_mib"], r["disk_mib"],
        ]
        for r in per_size
    ]
    scaling = format_table(
        ["points", "quantization", "upsert/s", "index build s", "exact p50 ms", "exact p99 ms", "HNSW p50 ms",
         "HNSW p99 ms", "recall@10", "filtered p50 ms", "filtered p99 ms", "filtered recall@10",
         "store RSS MiB", "raw vectors MiB", "disk MiB"],
        scaling_rows,
    )
    contention_rows = [
        [
            f"{r['points']:,}", r["quantization"], r["during_build"]["idle"]["p50_ms"], r["during_build"]["idle"]["p99_ms"],
            r["during_build"]["during_build"]["p50_ms"], r["during_build"]["during_build"]["p99_ms"],
            r["during_build"]["during_build_max_ms"], r["during_build"]["share_over_2x_idle_p99"],
            r["during_build"]["during_build"]["n"], r["during_build"]["p99_ratio"],
        ]
        for r in per_size
    ]
    contention = format_table(
        ["points", "quantization", "idle p50 ms", "idle p99 ms", "during build p50 ms", "during build p99 ms",
         "during build max ms", "share > 2x idle p99", "queries during build", "p99 ratio"],
        contention_rows,
    )
    largest = [r for r in per_size if r["points"] == max(sizes)]
    params = {
        "sizes": list(sizes), "quantizations": list(quantizations), "queries": query_count,
        "dimension": DIMENSION, "top_k": TOP_K,
    }
    scaling_goals, contention_goals = [], []
    for r in largest:
        at = f"at {r['points']:,} points, quantization {r['quantization']}"
        scaling_goals += [
            goal(f"HNSW p50 ms {at} (issue: at 1M)", r["hnsw"]["p50_ms"], 20.0, False),
            goal(f"recall@10 {at}", r["hnsw"]["recall_at_10"], 0.95, True),
        ]
        contention_goals.append(goal(f"p99 during build / idle {at}", r["during_build"]["p99_ratio"], 2.0, False))
    return [
        Outcome("store_scaling", params, {"sizes": per_size}, scaling_goals,
                [("Vector store scaling (benchmark 4)", scaling)]),
        Outcome("build_contention", params, {"sizes": [r["during_build"] | {"points": r["points"], "quantization": r["quantization"]} for r in per_size]},
                contention_goals, [("Queries during an index build (benchmark 5)", contention)]),
    ]

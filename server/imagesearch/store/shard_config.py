"""Index settings of the embedded store and the qdrant-edge shard configuration they give."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from qdrant_edge import (
    Distance,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeVectorParams,
    HnswIndexConfig,
    Memory,
    QuantizationSearchParams,
    ScalarQuantizationConfig,
    ScalarType,
    SearchParams,
)

from imagesearch.store.base import ModelSetRecord
from imagesearch.store.filters import DEFAULT_MAX_FILTER_INDEXES

QUANTIZATIONS = ("none", "int8")


@dataclass(frozen=True)
class IndexSettings:
    """When and how the embedded store builds its HNSW index.

    threshold: points written since the last build (not covered by the index) that start a
        background build; 0 or less disables automatic builds (build_index still works).
        Below it, unindexed points are searched exactly, which costs ~0.2 ms per 1k points
        of 512-d on these machines, so ~20k keeps the exact part of a query under ~5 ms.
    m / ef_construct: graph degree and build beam. 16/100 are Qdrant's defaults and gave
        0.96-0.99 recall@10 on 100k 512-d vectors here; larger values slow the build (which
        is already minutes per 100k points on 2 cores) for little recall.
    hnsw_ef: search beam. 128 measured 0.97 recall@10 at ~1.8 ms, against 0.96 at the
        default and 3.6 ms for 0.99 at 256: the knee of the curve.
    full_scan_threshold_kb: segments smaller than this (vector bytes) are scanned exactly
        even when indexed; exact is as fast as HNSW at that size and is always right.
    quantization: "int8" (scalar quantization, memory-mapped beside the float vectors: a
        quarter of their size, used to build and walk the graph, then the candidates are
        rescored with the float vectors) or "none". int8 is the default because, measured
        on 1280-d vectors (docs/benchmarks.md), it built the 100k index 4x faster and
        answered 2x faster at the same recall@10 (1.0; 0.999 at 1M), for about 20 % more
        memory. Fixed per collection at creation, since it is part of the shard's
        configuration.
    quantization_oversampling: with int8, how many more candidates than asked for are
        rescored (recall against the cost of reading float vectors).
    max_filter_indexes: payload indexes a collection creates on its own for filtered caller
        metadata keys; keys past it are filtered unindexed (filters.indexes_to_create). Each
        index is permanent and costs memory per point; 32 covers any sane metadata schema.
    journal_max_bytes: bound on the file of writes journaled during one build
        (journal.py); past it the build is abandoned. A journaled offline-set insert
        pickles to 15.2 KB of vectors (measured, 1280 + 384 floats) plus its fingerprint,
        so the 1 GiB default holds somewhat under 70k inserts made during one build.
    retry_base_s / retry_max_s: after a failed build, automatic builds of that collection
        wait retry_base_s, doubling per consecutive failure up to retry_max_s (each try
        copies the whole shard; without a pause a failing build was retried by the very
        next insert). An explicit build_index() is not held back.
    dead_points_min / dead_points_fraction: a build also starts once the copies of replaced
        and deleted points kept since the last one exceed both dead_points_min and
        dead_points_fraction of the points (the engine frees them only when a build rewrites
        their segment; until then each holds its vectors and payload, ~25 KB for an offline-set
        item with its fingerprint). Without it, a collection whose items are replaced in place
        never reached `threshold`, and a 4-minute soak replacing 50 ids grew the API server by
        the shard's growth, 3 MiB a minute at ~100 writes a minute. 0.2 is Qdrant's own
        vacuum threshold; 500 keeps a small collection's dead weight near 12 MB.
    disk_margin: a build starts only when the free space on the data directory's disk is
        at least disk_margin times the shard's size: the copy takes 1x, the index and the
        journal come on top of it.
    """

    threshold: int = 20_000
    m: int = 16
    ef_construct: int = 100
    hnsw_ef: int = 128
    full_scan_threshold_kb: int = 10_000
    quantization: str = "int8"
    quantization_oversampling: float = 2.0
    max_filter_indexes: int = DEFAULT_MAX_FILTER_INDEXES
    journal_max_bytes: int = 1 << 30
    retry_base_s: float = 60.0
    retry_max_s: float = 3600.0
    disk_margin: float = 2.0
    dead_points_min: int = 500
    dead_points_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {', '.join(QUANTIZATIONS)}, not {self.quantization!r}")
        if self.max_filter_indexes < 0 or self.journal_max_bytes <= 0 or self.disk_margin < 1:
            raise ValueError("max_filter_indexes >= 0, journal_max_bytes > 0 and disk_margin >= 1 are required")
        if not 0 <= self.retry_base_s <= self.retry_max_s:
            raise ValueError("0 <= retry_base_s <= retry_max_s is required")

    def dead_points_limit(self, points: int) -> int:
        """Dead copies of points past which a build starts (see dead_points_min)."""
        return max(self.dead_points_min, int(self.dead_points_fraction * points))

    def search_params(self) -> SearchParams:
        """Parameters every query runs with (quantization settings are ignored by shards
        built without it)."""
        if self.quantization == "none":
            return SearchParams(hnsw_ef=self.hnsw_ef)
        return SearchParams(
            hnsw_ef=self.hnsw_ef,
            quantization=QuantizationSearchParams(rescore=True, oversampling=self.quantization_oversampling),
        )


def edge_config(model_set: ModelSetRecord, settings: IndexSettings) -> EdgeConfig:
    """The configuration a collection's shard is created with; it is persisted in the shard.

    One named cosine vector per space of the model set.

    indexing_threshold is 1 KB because the serving process never calls optimize(): the only
    optimize() is the child build (indexer.py), and when it runs it should index everything.
    """
    quantization = _quantization(settings)
    return EdgeConfig(
        vectors={
            space.name: EdgeVectorParams(
                size=space.model.dimension, distance=Distance.Cosine, quantization_config=quantization,
                memory=float_vector_memory(quantization is not None),
            )
            for space in model_set.spaces
        },
        hnsw_config=HnswIndexConfig(
            m=settings.m,
            ef_construct=settings.ef_construct,
            full_scan_threshold=settings.full_scan_threshold_kb,
        ),
        optimizers=EdgeOptimizersConfig(indexing_threshold=1),
    )


def float_vector_memory(quantized: bool) -> Memory | None:
    """Where a space's float vectors live: memory-mapped, not read in (Cold), when an int8
    copy exists (it is what the graph walk reads, QUANTIZED_MEMORY; the floats only rescore the few
    oversampled candidates, from the page cache); the engine's default (Cached: read whole
    at every load) otherwise.

    Measured at 100k 1280-d points: loading a shard with Cached float vectors read 615 MiB
    and took 1.2-6.4 s (all of it holding the GIL, so every query waited: the index swap's
    stall); see docs/benchmarks.md for the Cold figures.
    """
    return Memory.Cold if quantized else None


def with_cold_float_vectors(shard_dir: Path) -> EdgeConfig | None:
    """The configuration to load an existing shard with so that segments built from now on
    keep quantized spaces' float vectors and int8 copies memory-mapped (float_vector_memory,
    QUANTIZED_MEMORY); None when it has no quantized space or already does. Only `vectors` is given: every other setting
    resolves to the shard's persisted one (the engine's rule for unspecified parameters)."""
    persisted = json.loads((shard_dir / EDGE_CONFIG_FILE).read_text())
    spaces = persisted.get("vectors") or {}
    if not any(_moves_to_cold(v) for v in spaces.values()):
        return None
    vectors = {}
    for name, vector in spaces.items():
        scalar = (vector.get("quantization_config") or {}).get("scalar")
        quantization = None
        if scalar is not None:
            quantization = ScalarQuantizationConfig(
                type=ScalarType.Int8, quantile=scalar.get("quantile"), memory=QUANTIZED_MEMORY,
            )
        vectors[name] = EdgeVectorParams(
            size=vector["size"], distance=Distance.Cosine, quantization_config=quantization,
            memory=Memory.Cold if scalar is not None else _MEMORY.get(vector.get("memory")),
        )
    return EdgeConfig(vectors=vectors)


# The engine's persisted config (qdrant-edge-py 0.9.0): JSON beside the segments.
EDGE_CONFIG_FILE = "edge_config.json"
_MEMORY = {"cold": Memory.Cold, "cached": Memory.Cached, "pinned": Memory.Pinned}


def _moves_to_cold(vector: dict) -> bool:
    """A cosine space with an int8 copy whose float vectors or int8 copy are not yet Cold."""
    scalar = (vector.get("quantization_config") or {}).get("scalar")
    return (
        scalar is not None and scalar.get("type") == "int8" and vector.get("distance") == "Cosine"
        and (vector.get("memory") != "cold" or scalar.get("memory") != "cold" or scalar.get("always_ram"))
        and not vector.get("multivector_config") and not vector.get("datatype")
    )


def _quantization(settings: IndexSettings) -> ScalarQuantizationConfig | None:
    if settings.quantization == "none":
        return None
    # The 0.99 quantile clips the rare extreme components instead of spending int8 range on them.
    return ScalarQuantizationConfig(type=ScalarType.Int8, quantile=0.99, memory=QUANTIZED_MEMORY)


# Where the int8 copy lives: memory-mapped (Cold), not copied into RAM at load (Pinned, the
# placement until 2026-12-02). Measured at 100k 1280-d points (`python -m bench.swap_load`):
# a load of a Pinned copy held the GIL 1.2-1.9 s (copying 126 MiB into chunked vectors), a
# Cold one 0.13-0.21 s; queries once the pages are in the page cache 0.3-0.5 ms p50 either
# way, and the swap reads the files into the page cache before the first query
# (layout.warm_page_cache: first 100 queries 1.1-1.5 ms p50 instead of 20 ms from disk).
QUANTIZED_MEMORY = Memory.Cold

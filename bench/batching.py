"""Benchmark 3: SearchItems throughput at 1, 4, 16 and 64 concurrent clients, Triton dynamic batching on vs off.

Two Tritons run side by side, started with the server's own launcher: one on the real
model repository, one on a generated copy whose search models' config.pbtxt (image_analysis
and image_embedding, bench/triton.py SEARCH_MODELS) lack the dynamic_batching block (same
model files, same instance counts, same threads). Each gets an API server
pointing at it with --triton-url. Rounds alternate on/off so machine noise hits both.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    CpuMeter,
    Outcome,
    corel_images,
    format_table,
    goal,
    median,
    process_tree,
)
from bench.encoder import MODEL_DIR, InProcessEncoder
from bench.ingest import EMBED_ONLY, server_ingest
from bench.query import concurrent_clients
from bench.triton import search_stats, stats_delta, without_dynamic_batching
from imagesearch.inference.nsfw import NSFW_MODEL
from imagesearch.launcher.api_server import ServerProcess
from imagesearch.launcher.triton import TritonLaunchConfig, TritonProcess, free_port
from imagesearch.models.model_sets import DEFAULT_MODEL_SET, MODEL_SETS

CLIENT_COUNTS = (1, 4, 16, 64)
COLLECTION = "batching"
# Searches per round and client count, shared between the clients (at least 2 each).
QUICK = {"images": 16, "rounds": 1, "searches": 48, "client_counts": (1, 16)}
FULL = {"images": 64, "rounds": 3, "searches": 192, "client_counts": CLIENT_COUNTS}
TRITON_START_TIMEOUT_S = 300
SWEEP_BATCHES = (1, 2, 4, 16)


def run(quick: bool) -> list[Outcome]:
    """Both variants at each client count, alternating; one outcome."""
    return [asyncio.run(_run(QUICK if quick else FULL))]


async def _start_pair(repository: Path, work_dir: Path) -> tuple[TritonProcess, ServerProcess]:
    triton = TritonProcess(
        TritonLaunchConfig(
            model_repository=repository,
            grpc_port=free_port(),
            http_port=free_port(),
            metrics_port=free_port(),
            work_dir=work_dir / "triton",
            # The server needs every model of its default set and the NSFW scorer.
            models=(*MODEL_SETS[DEFAULT_MODEL_SET].triton_models, NSFW_MODEL),
        )
    )
    await triton.start()
    await triton.wait_ready(TRITON_START_TIMEOUT_S)
    server = ServerProcess(work_dir / "server", extra_args=["--triton-url", triton.url], metrics_port=0, log_level="WARNING")
    try:
        server.start()
    except BaseException:
        await triton.stop()
        raise
    return triton, server


async def _round(
    triton: TritonProcess, server: ServerProcess, images: list[bytes], searches: int, clients: int
) -> dict[str, Any]:
    """One round of `clients` clients; throughput and what Triton saw meanwhile."""
    workload = [images[i % len(images)] for i in range(max(searches, 2 * clients))]
    groups = {
        "client": lambda: [os.getpid()],
        "api_server": lambda: [server.process.pid],
        "triton": lambda: process_tree(triton.pid),
    }
    before = await search_stats(triton.url)
    with CpuMeter(groups) as meter:
        started = time.perf_counter()
        latencies = await concurrent_clients(server.address, COLLECTION, workload, clients)
        elapsed = time.perf_counter() - started
    return {
        "searches_per_s": round(len(latencies) / elapsed, 2),
        **stats_delta(before, await search_stats(triton.url)),
        "cpu_ms_per_search": meter.ms_per(len(latencies)),
    }


async def _run(p: dict[str, Any]) -> Outcome:
    images = corel_images(p["images"])
    # The ceiling batching could reach: ONNX Runtime's own images/s by batch size here,
    # measured in the same run (its CPU per image grows with the batch on some CPUs).
    sweep = InProcessEncoder().batch_sweep(images[:32], list(SWEEP_BATCHES))
    counts = p["client_counts"]
    rounds: dict[str, list[dict[str, Any]]] = {f"{v}/{c}": [] for c in counts for v in ("on", "off")}
    with tempfile.TemporaryDirectory(prefix="bench-batching-") as tmp:
        repositories = {
            "on": MODEL_DIR.parent,
            "off": without_dynamic_batching(MODEL_DIR.parent, Path(tmp) / "repository-off"),
        }
        pairs: dict[str, tuple[TritonProcess, ServerProcess]] = {}
        try:
            for variant, repository in repositories.items():
                pairs[variant] = await _start_pair(repository, Path(tmp) / variant)
                await server_ingest(pairs[variant][1].address, COLLECTION, images, EMBED_ONLY)
            for _ in range(p["rounds"]):
                for clients in counts:
                    for variant, (triton, server) in pairs.items():
                        result = await _round(triton, server, images, p["searches"], clients)
                        rounds[f"{variant}/{clients}"].append(result)
        finally:
            for triton, server in pairs.values():
                server.stop()
                await triton.stop()
    return _outcome(p, rounds, sweep)


def _outcome(p: dict[str, Any], rounds: dict[str, list[dict[str, Any]]], sweep: dict[int, float]) -> Outcome:
    counts = p["client_counts"]
    rate = {key: median(r["searches_per_s"] for r in values) for key, values in rounds.items()}
    ratios = {clients: rate[f"on/{clients}"] / rate[f"off/{clients}"] for clients in counts}
    ceiling = sweep[16] / sweep[1]
    rows = []
    for clients in counts:
        for variant in ("on", "off"):
            last = rounds[f"{variant}/{clients}"][-1]
            cpu = last["cpu_ms_per_search"]
            rows.append([clients, variant, round(rate[f"{variant}/{clients}"], 1),
                         round(ratios[clients], 3) if variant == "on" else "", last["mean_batch_size"],
                         last["queue_ms"], last["compute_ms"], last["busy_ms_per_image"],
                         cpu["client"], cpu["api_server"], cpu["triton"]])
    table = format_table(
        ["clients", "dynamic batching", "searches/s (median)", "on/off", "mean batch", "queued ms/request",
         "computing ms/request", "instance busy ms/image", "CPU ms/search: client", "API server", "Triton"],
        rows,
    )
    by_batch = ", ".join(f"{rate_:.1f} at batch {size}" for size, rate_ in sweep.items())
    notes = [
        f"ONNX Runtime in-process, images/s: {by_batch}: batching alone can gain at most "
        f"{max(sweep.values()) / sweep[1]:.2f}x on this CPU; the rest of a SearchItems "
        "(decode in the stub, gRPC, Python) is per image whatever the batch.",
    ]
    return Outcome(
        "batching",
        {**p, "client_counts": list(counts)},
        {
            "on_searches_per_s": {str(c): round(rate[f"on/{c}"], 2) for c in counts},
            "off_searches_per_s": {str(c): round(rate[f"off/{c}"], 2) for c in counts},
            "ratio": {str(clients): round(value, 3) for clients, value in ratios.items()},
            "onnx_batch_ceiling": round(ceiling, 3),
            "onnx_images_per_s_by_batch": {str(size): round(value, 2) for size, value in sweep.items()},
            "rounds": rounds,
        },
        [goal(f"throughput ratio batching on/off at {clients} clients", ratios[clients], 1.0, True)
         for clients in counts],
        [("Dynamic batching (benchmark 3), 1 to 64 clients", table)],
        notes,
    )

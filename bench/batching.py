"""Benchmark 3: SearchItems throughput at 16 concurrent clients, Triton dynamic batching on vs off.

Two Tritons run side by side, started with the server's own launcher: one on the real
model repository, one on a generated copy whose config.pbtxt lacks the dynamic_batching
block (same model file, same instance count, same threads). Each gets an API server
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
from bench.triton import inference_stats, stats_delta, without_dynamic_batching
from imagesearch.inference.nsfw import NSFW_MODEL
from imagesearch.launcher.api_server import ServerProcess
from imagesearch.launcher.triton import TritonLaunchConfig, TritonProcess, free_port
from imagesearch.models.model_sets import DEFAULT_MODEL_SET, MODEL_SETS

CLIENTS = 16
COLLECTION = "batching"
QUICK = {"images": 16, "rounds": 1, "queries_per_client": 3}
FULL = {"images": 64, "rounds": 3, "queries_per_client": 12}
TRITON_START_TIMEOUT_S = 300


def run(quick: bool) -> list[Outcome]:
    """Both variants, alternating rounds; one outcome."""
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


async def _round(triton: TritonProcess, server: ServerProcess, images: list[bytes], queries: int) -> dict[str, Any]:
    """One round of CLIENTS clients; throughput and what Triton saw meanwhile."""
    workload = [images[i % len(images)] for i in range(CLIENTS * queries)]
    groups = {
        "client": lambda: [os.getpid()],
        "api_server": lambda: [server.process.pid],
        "triton": lambda: process_tree(triton.pid),
    }
    before = await inference_stats(triton.url)
    with CpuMeter(groups) as meter:
        started = time.perf_counter()
        latencies = await concurrent_clients(server.address, COLLECTION, workload, CLIENTS)
        elapsed = time.perf_counter() - started
    return {
        "searches_per_s": round(len(latencies) / elapsed, 2),
        **stats_delta(before, await inference_stats(triton.url)),
        "cpu_ms_per_search": meter.ms_per(len(latencies)),
    }


async def _run(p: dict[str, int]) -> Outcome:
    images = corel_images(p["images"])
    # The ceiling batching could reach: ONNX Runtime's own gain from batch 1 to 16 here.
    sweep = InProcessEncoder().batch_sweep(images[:32], [1, 16])
    rounds: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
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
                for variant, (triton, server) in pairs.items():
                    rounds[variant].append(await _round(triton, server, images, p["queries_per_client"]))
        finally:
            for triton, server in pairs.values():
                server.stop()
                await triton.stop()

    on = median(r["searches_per_s"] for r in rounds["on"])
    off = median(r["searches_per_s"] for r in rounds["off"])
    ratio = on / off
    ceiling = sweep[16] / sweep[1]
    rows = []
    for variant, value in (("on", on), ("off", off)):
        last = rounds[variant][-1]
        cpu = last["cpu_ms_per_search"]
        rows.append([variant, round(value, 1), last["mean_batch_size"], last["queue_ms"], last["compute_ms"],
                     last["busy_ms_per_image"], cpu["client"], cpu["api_server"], cpu["triton"]])
    table = format_table(
        ["dynamic batching", "searches/s (median)", "mean batch", "queued ms/request",
         "computing ms/request", "instance busy ms/image", "CPU ms/search: client", "API server", "Triton"],
        rows,
    )
    notes = [
        f"ONNX Runtime in-process: {sweep[1]:.1f} images/s at batch 1, {sweep[16]:.1f} at batch 16: "
        f"batching alone can gain at most {ceiling:.2f}x on this CPU; the rest of a SearchItems "
        "(decode in the stub, gRPC, Python) is per image whatever the batch.",
    ]
    return Outcome(
        "batching",
        {**p, "clients": CLIENTS},
        {
            "on_searches_per_s": on,
            "off_searches_per_s": off,
            "ratio": round(ratio, 3),
            "onnx_batch_ceiling": round(ceiling, 3),
            "rounds": rounds,
        },
        [goal("throughput ratio batching on/off at 16 clients", ratio, 1.5, True)],
        [("Dynamic batching (benchmark 3), 16 clients", table)],
        notes,
    )

"""Triton helpers for the benchmarks: where a request's time goes (Triton's own
statistics), and a copy of the model repository with dynamic batching turned off."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tritonclient.grpc.aio import InferenceServerClient

MODEL = "image_embedding"
# The models an image SearchItems reaches: image_analysis when the collection's score has a
# copy check (the default calibration: the query's vector and fingerprint come from one
# decode there), image_embedding otherwise. The batching benchmark switches both.
SEARCH_MODELS = (MODEL, "image_analysis")
STAT_PHASES = ("success", "queue", "compute_input", "compute_infer", "compute_output")
DYNAMIC_BATCHING_BLOCK = re.compile(r"\n?dynamic_batching\s*\{[^{}]*\}\n?")


async def inference_stats(url: str, model: str = MODEL) -> dict[str, int]:
    """Triton's cumulative counters for `model`: request and execution counts, and the
    nanoseconds spent queued, copying inputs, computing and copying outputs."""
    client = InferenceServerClient(url)
    try:
        response = await client.get_inference_statistics(model, as_json=True)
    finally:
        await client.close()
    (stats,) = response["model_stats"]
    phases = stats.get("inference_stats", {})
    # int64 fields come as strings in protobuf's JSON mapping, and are omitted when zero.
    counters = {f"{phase}_ns": int(phases.get(phase, {}).get("ns", 0)) for phase in STAT_PHASES}
    counters["requests"] = int(phases.get("success", {}).get("count", 0))
    counters["executions"] = int(stats.get("execution_count", 0))
    counters["inferences"] = int(stats.get("inference_count", 0))
    return counters


async def search_stats(url: str, models: tuple[str, ...] = SEARCH_MODELS) -> dict[str, int]:
    """inference_stats() of every model an image search may reach, summed."""
    totals: dict[str, int] = {}
    for model in models:
        for key, value in (await inference_stats(url, model)).items():
            totals[key] = totals.get(key, 0) + value
    return totals


def stats_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    """What happened between two inference_stats() snapshots, per request and per batch.

    Triton's phases per request: queue (waiting for the model instance, including the
    dynamic batcher's delay) then compute (input copy, execute, output copy); compute
    phases are counted once per request but cover the whole batch the request ran in.
    """
    d = {key: after[key] - before[key] for key in after}
    requests, executions = max(d["requests"], 1), max(d["executions"], 1)
    compute_ns = d["compute_input_ns"] + d["compute_infer_ns"] + d["compute_output_ns"]
    return {
        "requests": d["requests"],
        "executions": d["executions"],
        "mean_batch_size": round(d["inferences"] / executions, 2),
        "request_ms": round(d["success_ns"] / requests / 1e6, 3),
        "queue_ms": round(d["queue_ns"] / requests / 1e6, 3),
        "compute_ms": round(compute_ns / requests / 1e6, 3),
        # Time the model instance was busy, per image: the cost batching is meant to cut.
        "busy_ms_per_image": round(_busy_ns(d) / max(d["inferences"], 1) / 1e6, 3),
    }


def _busy_ns(delta: dict[str, int]) -> float:
    """Model-instance busy time: compute per request summed over batches, not requests.

    Every request of a batch reports the batch's whole compute time, so the busy time is
    the per-request compute time multiplied by executions, not by requests.
    """
    requests = max(delta["requests"], 1)
    compute_ns = delta["compute_input_ns"] + delta["compute_infer_ns"] + delta["compute_output_ns"]
    return compute_ns / requests * delta["executions"]


def without_dynamic_batching(
    model_repository: Path, destination: Path, models: tuple[str, ...] = SEARCH_MODELS
) -> Path:
    """A copy of `model_repository` whose `models`' configs have no dynamic_batching.

    Generated from the real configs so that everything else (instance count, threads,
    parameters, the ONNX file) stays identical; fails loudly if a block is not found.
    """
    shutil.copytree(model_repository, destination, ignore=shutil.ignore_patterns("__pycache__"))
    for model in models:
        config = destination / model / "config.pbtxt"
        text, removed = DYNAMIC_BATCHING_BLOCK.subn("\n", config.read_text())
        if removed != 1:
            raise ValueError(f"expected one dynamic_batching block in {config}, found {removed}")
        config.write_text(text)
    return destination

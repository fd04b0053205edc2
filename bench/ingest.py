"""Benchmark 1: images/s through ImportItems vs the raw in-process encoder.

Both sides start from the same encoded JPEG bytes, so decode and resize are inside both
figures; the raw side runs at its best batch size, which is the most a server on this
machine could reach if gRPC, Triton, the store and Python cost nothing.

The server is measured two ways. "Embed only" is the work the raw encoder does: a
collection that skips NSFW scoring, inserts that skip duplicate checks; its ratio is the
issue's goal. "All checks" is a default collection and insert (NSFW model, duplicate
lookups and alignments on top), which costs what those features cost.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from imagesearch_client import AsyncImageSearchClient, InsertItem

from bench.common import (
    RESULTS_DIR,
    CpuMeter,
    Outcome,
    corel_images,
    format_table,
    goal,
    machine_info,
    median,
    print_machine,
    reproduce_command,
)
from bench.encoder import MODEL_DIR, InProcessEncoder
from bench.stub_cpu import stub_pids

BATCH_CANDIDATES = (1, 4, 8, 16, 32)
STREAM_TIMEOUT_S = 3600


@dataclass(frozen=True)
class IngestMode:
    """How the benchmark's collection and inserts are set up."""

    label: str
    skip_nsfw_scoring: bool
    duplicate_policy: str


EMBED_ONLY = IngestMode("embed only (skip_nsfw_scoring, DUPLICATE_POLICY_IGNORE)", True, "ignore")
ALL_CHECKS = IngestMode("all checks (defaults: NSFW score, duplicate lookup)", False, "allow")


async def server_ingest(
    address: str, collection: str, images: Sequence[bytes], mode: IngestMode = ALL_CHECKS
) -> float:
    """Create `collection` as `mode` says, stream `images` into it in one ImportItems call; images/s.

    Raises if any item failed: a rate that counts errors would flatter the server.
    """
    async with AsyncImageSearchClient(address, timeout=60) as client:
        await client.create_collection(collection, skip_nsfw_scoring=mode.skip_nsfw_scoring)
        items = [
            InsertItem(image=data, id=str(i), duplicate_policy=mode.duplicate_policy) for i, data in enumerate(images)
        ]
        started = time.perf_counter()
        failures = [o async for o in client.import_items(collection, items, timeout=STREAM_TIMEOUT_S) if not o.ok]
        elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} inserts failed, first: {failures[0]}")
    return len(images) / elapsed


# -- the insert pipeline on vs off, by process (python -m bench.ingest) ----------------------

PIPELINE_USAGE = """Ingest with Triton's image_analysis pipeline vs without it, in one run.

Two Tritons and two API servers run side by side: one on the model repository (the
pipeline loads, inserts decode once, in Triton), one on a copy without image_analysis
(inserts call image_embedding and nsfw and fingerprint in the API server, as before).
Rounds alternate between them and the raw in-process encoder, so machine noise hits all
three; CPU per image is read per process (client, API server, tritonserver, each stub).

    PYTHONPATH=server:clients/python .venv/bin/python -m bench.ingest --images 300 --rounds 2
"""
STUB_MODELS = ("image_embedding", "nsfw", "image_analysis")


def without_pipeline(model_repository: Path, destination: Path) -> Path:
    """A copy of `model_repository` without the image_analysis model (the old insert path)."""
    shutil.copytree(model_repository, destination, ignore=shutil.ignore_patterns("__pycache__", "image_analysis"))
    return destination


def _cpu_groups(server, triton) -> dict:
    groups = {"client": lambda: [os.getpid()], "api_server": lambda: [server.process.pid],
              "tritonserver": lambda: [triton.pid]}
    for model in STUB_MODELS:
        groups[f"stub_{model}"] = lambda model=model: stub_pids(triton.pid, model)
    return groups


async def _pipeline_round(pairs: dict, images: Sequence[bytes], round_index: int, encoder, batch: int) -> dict:
    results: dict = {}
    for variant, (triton, server) in pairs.items():
        for mode_key, mode in (("embed_only", EMBED_ONLY), ("all_checks", ALL_CHECKS)):
            with CpuMeter(_cpu_groups(server, triton)) as meter:
                rate = await server_ingest(server.address, f"{variant}{mode_key}{round_index}", images, mode)
            results[f"{variant}/{mode_key}"] = {"images_per_s": round(rate, 2), "cpu_ms": meter.ms_per(len(images))}
    with CpuMeter({"in_process": lambda: [os.getpid()]}) as meter:
        rate = encoder.throughput(images, batch)
    results["raw"] = {"images_per_s": round(rate, 2), "cpu_ms": meter.ms_per(len(images))}
    return results


async def compare_pipeline(image_count: int, rounds: int) -> dict:
    """Median images/s, ratio to raw and CPU ms per image by process, pipeline on and off."""
    # Here, not at the top: bench.batching imports this module.
    from bench.batching import _start_pair


    images = corel_images(image_count)
    encoder = InProcessEncoder()
    sweep = encoder.batch_sweep(images[:32], [4, 8, 16])
    batch = max(sweep, key=sweep.get)
    runs: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        repositories = {"pipeline": MODEL_DIR.parent,
                        "separate": without_pipeline(MODEL_DIR.parent, Path(tmp) / "repository-separate")}
        pairs: dict = {}
        try:
            for variant, repository in repositories.items():
                pairs[variant] = await _start_pair(repository, Path(tmp) / variant)
            await _pipeline_round(pairs, images[:16], -1, encoder, batch)  # warm-up
            for index in range(rounds):
                runs.append(await _pipeline_round(pairs, images, index, encoder, batch))
        finally:
            for triton, server in pairs.values():
                server.stop()
                await triton.stop()
    summary: dict = {"images": image_count, "rounds": rounds, "raw_batch": batch}
    raw = median(r["raw"]["images_per_s"] for r in runs)
    for key in runs[0]:
        rate = median(r[key]["images_per_s"] for r in runs)
        cpu = {g: round(median(r[key]["cpu_ms"][g] for r in runs), 2) for g in runs[0][key]["cpu_ms"]}
        summary[key] = {"images_per_s": rate, "ratio_to_raw": round(rate / raw, 3), "cpu_ms_per_image": cpu}
    return summary


def pipeline_outcome(summary: dict) -> Outcome:
    """The comparison as a report section: images/s, ratio to raw and CPU per process."""
    groups = ["client", "api_server", "tritonserver", *(f"stub_{m}" for m in STUB_MODELS)]
    rows = []
    for key in ("pipeline/embed_only", "separate/embed_only", "pipeline/all_checks", "separate/all_checks"):
        cpu = summary[key]["cpu_ms_per_image"]
        rows.append([key, summary[key]["images_per_s"], summary[key]["ratio_to_raw"],
                     *(cpu.get(g, 0.0) or "" for g in groups), round(sum(cpu.values()), 2)])
    rows.append([f"raw ONNX Runtime, batch {summary['raw_batch']}", summary["raw"]["images_per_s"], 1.0,
                 *([""] * len(groups)), summary["raw"]["cpu_ms_per_image"]["in_process"]])
    table = format_table(["ingest", "images/s (median)", "ratio to raw", *groups, "CPU ms/image total"], rows)
    stub = summary["pipeline/embed_only"]["cpu_ms_per_image"]["stub_image_analysis"]
    raw = summary["raw"]["cpu_ms_per_image"]["in_process"]
    notes = [
        "pipeline: inserts call Triton's image_analysis once (one decode: vectors, NSFW score, fingerprint "
        "parts); separate: image_embedding and nsfw each decode, the API server decodes for the fingerprint.",
        f"image_analysis stub CPU per image, embed only: {stub} ms = {stub / raw:.2f}x the raw encoder's {raw} ms "
        "(it also computes the fingerprint's thumbnail and pHash, which the raw encoder does not).",
        "Ratios to raw are reliable only at a load below the core count (see the first bullet above): at a higher load compare the pipeline and separate rows with each other, and CPU per image, not the ratio to raw.",
    ]
    return Outcome("pipeline", {"images": summary["images"], "rounds": summary["rounds"]}, summary,
                   [goal("ingest ratio server (embed only, pipeline)/raw", summary["pipeline/embed_only"]["ratio_to_raw"],
                         0.8, True)],
                   [("Insert pipeline on vs off, CPU ms per image by process", table)], notes)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=PIPELINE_USAGE,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300, help="Corel photos per ingest (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default %(default)s)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where pipeline.json goes")
    args = parser.parse_args()
    machine = machine_info()
    command = reproduce_command(sys.argv[1:]).replace("-m bench ", "-m bench.ingest ")
    print_machine(machine, command)
    outcome = pipeline_outcome(asyncio.run(compare_pipeline(args.images, args.rounds)))
    outcome.show()
    print(f"saved {outcome.save(args.results_dir, machine, command)}")


if __name__ == "__main__":
    main()

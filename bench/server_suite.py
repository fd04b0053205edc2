"""Benchmarks 1, 2 and 6 on one real server (local Triton + embedded store).

One server serves the ingest runs and then the query runs, while a sampler records the
peak resident memory of the API server process and of Triton (tritonserver and its
Python-backend stub) in each phase.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from bench.common import (
    CpuMeter,
    Outcome,
    PeakRssSampler,
    corel_images,
    descendants,
    format_table,
    goal,
    latency_summary,
    median,
)
from bench.encoder import InProcessEncoder
from bench.ingest import ALL_CHECKS, BATCH_CANDIDATES, EMBED_ONLY, server_ingest
from bench.query import InProcessReference, concurrent_clients, one_client_interleaved
from bench.triton import inference_stats, stats_delta
from imagesearch.launcher.api_server import ServerProcess

QUICK = {"images": 48, "repeats": 1, "queries": 16, "concurrent_queries": 32}
FULL = {"images": 1000, "repeats": 3, "queries": 200, "concurrent_queries": 400}
CONCURRENT_CLIENTS = 8


def run(quick: bool) -> list[Outcome]:
    """Start a server, run ingest then query benchmarks against it; three outcomes."""
    return asyncio.run(_run(QUICK if quick else FULL))


async def _run(p: dict[str, int]) -> list[Outcome]:
    images = corel_images(p["images"])
    encoder = InProcessEncoder()
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        with ServerProcess(Path(tmp) / "server", metrics_port=0, log_level="WARNING") as server:
            # The server's only children are Triton and its stub (no index build starts
            # below the store's 20k-point threshold), so its descendants are Triton.
            groups = {
                "api_server_mib": lambda: [server.process.pid],
                "triton_mib": lambda: descendants(server.process.pid),
            }
            with PeakRssSampler(groups) as ingest_memory:
                ingest = await _ingest(server, encoder, images, p)
            with PeakRssSampler(groups) as query_memory:
                query = await _query(server, encoder, images, p, Path(tmp) / "reference")
    memory = Outcome(
        "memory",
        p,
        {"ingest": ingest_memory.peaks_mib(), "query": query_memory.peaks_mib()},
        [],
        [(
            "Peak resident memory (benchmark 6)",
            format_table(
                ["phase", "API server MiB", "Triton MiB"],
                [[phase, m["api_server_mib"], m["triton_mib"]]
                 for phase, m in (("ingest", ingest_memory.peaks_mib()), ("query", query_memory.peaks_mib()))],
            ),
        )],
        ["Triton is tritonserver plus its Python-backend stub (the process running model.py "
         "and ONNX Runtime); RSS sampled every 0.2 s and summed per group."],
    )
    return [ingest, query, memory]


async def _ingest(server: ServerProcess, encoder: InProcessEncoder, images: list[bytes], p: dict[str, int]) -> Outcome:
    """Benchmark 1: server ingest in both modes and the raw encoder, alternated `repeats` times."""
    sweep = encoder.batch_sweep(images[:64], [b for b in BATCH_CANDIDATES if b <= len(images)])
    best_batch = max(sweep, key=sweep.get)
    cpu_groups = {
        "client": lambda: [os.getpid()],
        "api_server": lambda: [server.process.pid],
        "triton": lambda: descendants(server.process.pid),
    }
    modes = {"embed_only": EMBED_ONLY, "all_checks": ALL_CHECKS}
    rates: dict[str, list[float]] = {key: [] for key in (*modes, "raw")}
    cpu: dict[str, list[dict[str, float]]] = {key: [] for key in (*modes, "raw")}
    triton: dict[str, list[dict]] = {key: [] for key in modes}
    for repeat in range(p["repeats"]):
        for key, mode in modes.items():
            before = await inference_stats(server.triton_url)
            with CpuMeter(cpu_groups) as meter:
                rates[key].append(await server_ingest(server.address, f"{key}{repeat}", images, mode))
            cpu[key].append(meter.ms_per(len(images)))
            triton[key].append(stats_delta(before, await inference_stats(server.triton_url)))
        with CpuMeter({"in_process": lambda: [os.getpid()]}) as meter:
            rates["raw"].append(encoder.throughput(images, best_batch))
        cpu["raw"].append(meter.ms_per(len(images)))
    rate = {key: median(values) for key, values in rates.items()}
    ratio = {key: rate[key] / rate["raw"] for key in modes}
    last = triton["embed_only"][-1]
    decode_share = encoder.decode_share(images[:best_batch])
    notes = [
        f"Triton's image encoder during the last embed-only run: mean batch {last['mean_batch_size']}, per request "
        f"{last['queue_ms']} ms queued + {last['compute_ms']} ms computing (of {last['request_ms']} ms "
        f"in Triton); model instance busy {last['busy_ms_per_image']} ms per image against "
        f"{1000 / rate['raw']:.1f} ms per image in-process.",
        f"Decode + resize is {decode_share:.0%} of the in-process encode time at batch {best_batch}.",
    ]
    table = format_table(
        ["path", "images/s (median)", "runs", "ratio to raw"],
        [
            *([f"server ImportItems, {mode.label}", round(rate[key], 1), len(rates[key]), round(ratio[key], 3)]
              for key, mode in modes.items()),
            [f"raw ONNX Runtime, batch {best_batch}", round(rate["raw"], 1), len(rates["raw"]), 1.0],
        ],
    )
    sweep_table = format_table(["batch size", *sweep], [["images/s", *(round(v, 1) for v in sweep.values())]])
    cpu_rows = []
    for key, mode in modes.items():
        per_group = {group: median(run[group] for run in cpu[key]) for group in cpu_groups}
        cpu_rows.append([mode.label, *per_group.values(), round(sum(per_group.values()), 2)])
    cpu_rows.append([f"raw ONNX Runtime, batch {best_batch} (in-process)", "", "", "",
                     median(run["in_process"] for run in cpu["raw"])])
    cpu_table = format_table(["CPU ms per image (median)", *cpu_groups, "total"], cpu_rows)
    return Outcome(
        "ingest",
        {**p, "best_batch": best_batch},
        {
            "images_per_s": {key: [round(r, 2) for r in values] for key, values in rates.items()},
            "median_images_per_s": {key: round(value, 2) for key, value in rate.items()},
            "ratio": {key: round(value, 3) for key, value in ratio.items()},
            "raw_batch_sweep": {str(k): round(v, 2) for k, v in sweep.items()},
            "triton": triton,
            "cpu_ms_per_image": cpu,
            "decode_share": round(decode_share, 3),
        },
        [goal("ingest ratio server (embed only)/raw", ratio["embed_only"], 0.85, True)],
        [("Ingest (benchmark 1)", table), ("Raw encoder batch size sweep", sweep_table),
         ("Where ingest CPU goes, by process", cpu_table)],
        notes,
    )


async def _query(
    server: ServerProcess, encoder: InProcessEncoder, images: list[bytes], p: dict[str, int], reference_dir: Path
) -> Outcome:
    """Benchmark 2: SearchItems at 1 and 8 clients vs in-process encode + search."""
    collection = "all_checks0"  # filled by the ingest benchmark with every image
    queries = [images[i % len(images)] for i in range(p["queries"])]
    reference = await InProcessReference.open(encoder, images, reference_dir)
    try:
        before = await inference_stats(server.triton_url)
        one = await one_client_interleaved(server.address, server.triton_url, collection, reference, queries)
        # Two Triton requests per image in this phase (SearchItems's own and the direct one).
        triton_1 = stats_delta(before, await inference_stats(server.triton_url))
    finally:
        await reference.close()
    concurrent_queries = [images[i % len(images)] for i in range(p["concurrent_queries"])]
    before = await inference_stats(server.triton_url)
    server_8 = await concurrent_clients(server.address, collection, concurrent_queries, CONCURRENT_CLIENTS)
    triton_8 = stats_delta(before, await inference_stats(server.triton_url))

    s1, s8 = latency_summary(one["server"]), latency_summary(server_8)
    ref = latency_summary(e + s for e, s in zip(one["encode"], one["search"]))
    direct = latency_summary(one["triton"])
    enc, srch = latency_summary(one["encode"]), latency_summary(one["search"])
    p50_ratio = s1["p50_ms"] / ref["p50_ms"]
    tail_ratio_8 = s8["p99_ms"] / s8["p50_ms"]
    rows = [
        ["server SearchItems, 1 client", s1["n"], s1["p50_ms"], s1["p99_ms"], round(p50_ratio, 3)],
        [f"server SearchItems, {CONCURRENT_CLIENTS} clients", s8["n"], s8["p50_ms"], s8["p99_ms"],
         round(s8["p50_ms"] / ref["p50_ms"], 3)],
        ["Triton embed called directly, 1 client", direct["n"], direct["p50_ms"], direct["p99_ms"],
         round(direct["p50_ms"] / ref["p50_ms"], 3)],
        ["in-process encode + search", ref["n"], ref["p50_ms"], ref["p99_ms"], 1.0],
        ["  of which encode (batch 1)", enc["n"], enc["p50_ms"], enc["p99_ms"], ""],
        ["  of which vector search", srch["n"], srch["p50_ms"], srch["p99_ms"], ""],
    ]
    notes = [
        f"1 client, medians: SearchItems {s1['p50_ms']:.1f} ms = Triton call {direct['p50_ms']:.1f} ms "
        f"(in-process encode {enc['p50_ms']:.1f} ms; inside Triton {triton_1['queue_ms']} ms queued + "
        f"{triton_1['compute_ms']} ms computing per request) + vector search {srch['p50_ms']:.1f} ms + "
        f"about {s1['p50_ms'] - direct['p50_ms'] - srch['p50_ms']:.1f} ms in the API server and its gRPC "
        "(collection lookup, streaming the hits back).",
        f"{CONCURRENT_CLIENTS} clients: mean batch {triton_8['mean_batch_size']}, {triton_8['queue_ms']} ms queued "
        f"+ {triton_8['compute_ms']} ms computing per request in Triton.",
    ]
    return Outcome(
        "query",
        {**p, "clients": [1, CONCURRENT_CLIENTS], "collection_images": len(images)},
        {
            "server_1_client": s1,
            f"server_{CONCURRENT_CLIENTS}_clients": s8,
            "in_process": ref,
            "triton_direct": direct,
            "in_process_encode": enc,
            "in_process_search": srch,
            "p50_ratio_1_client": round(p50_ratio, 3),
            "p99_over_p50_8_clients": round(tail_ratio_8, 3),
            "triton_1_client": triton_1,
            f"triton_{CONCURRENT_CLIENTS}_clients": triton_8,
        },
        [
            goal("p50 ratio server/in-process, 1 client", p50_ratio, 1.25, False),
            goal(f"p99/p50 at {CONCURRENT_CLIENTS} clients", tail_ratio_8, 2.0, False),
        ],
        [("Query latency (benchmark 2), ms", format_table(["path", "queries", "p50 ms", "p99 ms", "p50 ratio"], rows))],
        notes,
    )

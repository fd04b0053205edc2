"""OCR cost: reading time per image (with and without text, in-process, against the image
encoder), recognition batching, and text-query latency and index size at 10k/100k items.

    PYTHONPATH=server:clients/python python -m bench.ocr [--quick] [--sizes 10k,100k,1m] [--skip-reading]

Writes bench/results/ocr.json (rendered into docs/benchmarks.md by `python -m bench report`)
and prints its tables. Nothing is
asserted on speed. The OCR figures run the Triton model's own pipeline code
(model_repository/ocr/1) in this process, with the ONNX files `imagesearch models setup`
placed, so they exclude Triton's IPC (sub-millisecond) and include decoding.
"""

from __future__ import annotations

import argparse
import contextlib
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bench.common import COREL_DIR, REPO_ROOT, RESULTS_DIR, Outcome, format_table, goal, machine_info
from bench.ocr_renders import build_set

OCR_DIR = REPO_ROOT / "model_repository" / "ocr" / "1"
ENCODER = REPO_ROOT / "model_repository" / "image_embedding" / "1" / "model.onnx"
MAX_PIXELS = 64_000_000


def _model_code() -> None:
    """Make the ocr model's modules (and the shared preprocessing it links) importable."""
    if str(OCR_DIR) not in sys.path:
        sys.path.insert(0, str(OCR_DIR))


def _load_pipeline(**overrides: Any):
    """The ocr model's pipeline, imported from the model repository, with its ONNX sessions."""
    _model_code()
    import onnxruntime as ort
    from ocr_pipeline import OcrPipeline, PipelineParams  # type: ignore[import-not-found]

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    # OCR_BENCH_<NAME>=path (DET, CLS, REC, DET2) swaps a model file for comparisons.
    paths = {name: os.environ.get(f"OCR_BENCH_{name.upper()}", str(OCR_DIR / f"{name}.onnx"))
             for name in ("det", "cls", "rec", "det2")}
    sessions = [ort.InferenceSession(paths[name], options, providers=["CPUExecutionProvider"])
                for name in ("det", "cls", "rec", "det2")]
    return OcrPipeline(*sessions[:3], PipelineParams(**overrides), det2_session=sessions[3]), sessions


def _encoder() -> Callable[[bytes], None]:
    """The image_embedding model's preprocessing and network, in-process."""
    _model_code()  # preprocessing.py there is the image_embedding model's, linked
    import onnxruntime as ort
    from preprocessing import decode_rgb, to_pixels  # type: ignore[import-not-found]

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(ENCODER), options, providers=["CPUExecutionProvider"])

    def encode(data: bytes) -> None:
        session.run(None, {"pixels": to_pixels(decode_rgb(data, MAX_PIXELS))[None]})

    return encode


def _median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def reading_cost(quick: bool, rendered: int = 60, untouched: int = 200) -> dict[str, Any]:
    """Median ms per image: encoder vs OCR on untouched photos and on rendered ones, interleaved."""
    _model_code()
    from preprocessing import decode_rgb_array as decode  # type: ignore[import-not-found]

    pipeline, _ = _load_pipeline()
    encode = _encoder()
    renders = build_set(COREL_DIR, rendered=10 if quick else rendered, untouched=20 if quick else untouched, seed=5)
    times: dict[str, list[float]] = {"encoder": [], "ocr_no_text": [], "ocr_text": []}
    lines_found_untouched = 0
    for render in renders:
        start = time.perf_counter()
        encode(render.image)
        times["encoder"].append(time.perf_counter() - start)
        start = time.perf_counter()
        lines = pipeline.read(decode(render.image, MAX_PIXELS))
        times["ocr_text" if render.text else "ocr_no_text"].append(time.perf_counter() - start)
        lines_found_untouched += bool(lines) and render.text is None
    gate = []
    for render in renders:
        if render.text is None:
            bgr = np.ascontiguousarray(decode(render.image, MAX_PIXELS)[:, :, ::-1])
            gate.append(pipeline.has_text(bgr))
    medians = {k: _median_ms(v) for k, v in times.items()}
    return {
        "median_ms": medians,
        # The gate stops most text-free photos; those it lets through cost a full reading.
        "mean_ms": {k: round(statistics.fmean(v) * 1000, 2) for k, v in times.items()},
        "p90_ms": {k: round(float(np.percentile(v, 90)) * 1000, 2) for k, v in times.items()},
        "ocr_no_text_over_encoder": round(medians["ocr_no_text"] / medians["encoder"], 2),
        "ocr_text_over_encoder": round(medians["ocr_text"] / medians["encoder"], 2),
        "untouched_photos": len(gate),
        "untouched_passing_gate": sum(gate),
        "untouched_with_lines": lines_found_untouched,
    }


def batching_cost(quick: bool) -> dict[str, Any]:
    """Recognition of many crops: one ONNX run per crop vs chunks of 8 vs all at once."""
    _model_code()
    from preprocessing import decode_rgb_array as decode  # type: ignore[import-not-found]

    results = {}
    images = [decode(p.read_bytes(), MAX_PIXELS) for p in sorted((REPO_ROOT.parent / "shared" / "datasets" / "ocr").glob("*.jpg"))]
    for chunk in (1, 8, 64):
        pipeline, _ = _load_pipeline(rec_chunk=chunk)
        samples = []
        for _ in range(1 if quick else 2):
            start = time.perf_counter()
            for image in images:
                pipeline.read(image)
            samples.append(time.perf_counter() - start)
        results[f"chunk_{chunk}_ms_per_image"] = round(min(samples) * 1000 / len(images), 1)
    return results


def _synthetic_lines(rng: np.random.Generator, count: int):
    from imagesearch.ocr.lines import OcrLine

    box = ((0.0, 0.0), (100.0, 0.0), (100.0, 20.0), (0.0, 20.0))
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789"))
    return tuple(
        OcrLine("".join(rng.choice(letters, rng.integers(4, 12))) + " " + "".join(rng.choice(letters, rng.integers(3, 9))),
                0.9, box)
        for _ in range(count)
    )


async def _query_latency(size: int, queries: int, with_ocr: bool = True) -> dict[str, Any]:
    """Build an embedded collection of `size` points (40% with 1-5 lines of text) and time searches.

    with_ocr False stores the same points without OCR records (the disk baseline).
    """
    from imagesearch.ocr.grams import line_grams
    from imagesearch.ocr.query import parse_query
    from imagesearch.ocr.search import search_text
    from imagesearch.store.base import ModelRecord, ModelSetRecord, OcrPolicy, PointToStore, SpaceRecord
    from imagesearch.store.edge import EdgeStore
    from imagesearch.store.shard_config import IndexSettings

    rng = np.random.default_rng(size)
    model_set = ModelSetRecord("bench", (SpaceRecord("v", ModelRecord("m", "1", 4)),))
    with tempfile.TemporaryDirectory() as tmp:
        store = EdgeStore(Path(tmp), IndexSettings(threshold=0))
        await store.create_collection("c", model_set, ocr=OcrPolicy(True))
        texts: list[str] = []
        grams = 0
        start = time.perf_counter()
        for base in range(0, size, 1000):
            batch = []
            for i in range(base, min(size, base + 1000)):
                lines = _synthetic_lines(rng, int(rng.integers(1, 6))) if rng.random() < 0.4 else ()
                texts.extend(line.text for line in lines[:1])
                grams += len(line_grams(lines))
                batch.append(PointToStore(f"p{i}", {"v": rng.standard_normal(4).astype(np.float32)},
                                          ocr_lines=lines if with_ocr else None))
            await store.upsert("c", batch)
        ingest_s = time.perf_counter() - start
        if not with_ocr:
            await store.close()
            return {"size": size, "disk_mib": round(_disk(Path(tmp)) / 2**20, 1)}
        words = [t.split()[0] for t in texts]
        cases = {
            "whole word": [w for w in rng.choice(words, queries)],
            "4-char part": [w[1:5] for w in rng.choice([w for w in words if len(w) >= 6], queries)],
            "one typo": [w[:2] + ("x" if w[2] != "x" else "y") + w[3:] for w in rng.choice([w for w in words if len(w) >= 7], queries)],
            "absent": ["".join(rng.choice(list("qwrtzpsdfgh"), 8)) for _ in range(queries)],
        }
        cases["whole word, before"] = cases["whole word"]
        latency = {}
        for name, texts_ in cases.items():
            samples, cpu, found = [], [], 0
            await search_text(store, "c", parse_query(texts_[0]), 10)  # creates the keyword index once
            with _previous_rules(name.endswith("before")):
                for text in texts_:
                    t0, c0 = time.perf_counter(), time.process_time()
                    found += bool(await search_text(store, "c", parse_query(text), 10))
                    samples.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
            latency[name] = {"p50_ms": _median_ms(samples), "p95_ms": round(float(np.percentile(samples, 95)) * 1000, 2),
                             "cpu_p50_ms": _median_ms(cpu), "cpu_p95_ms": round(float(np.percentile(cpu, 95)) * 1000, 2),
                             "found": f"{found}/{len(texts_)}"}
        await store.close()
        disk = _disk(Path(tmp))
    baseline = await _query_latency(size, queries, with_ocr=False)
    return {"size": size, "ingest_s": round(ingest_s, 1), "grams_per_point": round(grams / size, 1),
            "disk_mib": round(disk / 2**20, 1), "disk_mib_without_ocr": baseline["disk_mib"], "latency": latency}


@contextlib.contextmanager
def _previous_rules(active: bool):
    """The text query as it was before 2026-12-01 (for the same-run comparison): a
    5-character word's n-gram condition by halves (a lone bigram passes) and no pre-check
    before the Python edit-distance scan."""
    if not active:
        yield
        return
    from imagesearch.ocr import grams, matching

    five, may_hold = grams._five_with_one_edit, matching._may_hold
    grams._five_with_one_edit = lambda p: grams.Filter(should=(grams._all_of(p[:2]), grams._all_of(p[2:])))
    matching._may_hold = lambda pattern, max_edits, text: True
    try:
        yield
    finally:
        grams._five_with_one_edit, matching._may_hold = five, may_hold


def _disk(root: Path) -> int:
    """Bytes of the files under `root` (qdrant-edge preallocates WAL and segment files)."""
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def _size(text: str) -> int:
    """'10k' -> 10000, '1m' -> 1000000, '500' -> 500."""
    factor = {"k": 1000, "m": 1_000_000}.get(text[-1:].lower(), 1)
    return int(float(text.rstrip("kKmM")) * factor)


def outcome(document: dict[str, Any]) -> Outcome:
    """The run's tables and goals, in the form `python -m bench report` renders."""
    tables, goals = [], []
    reading = document.get("reading")
    if reading:
        rows = [(kind, reading["median_ms"][kind], reading["mean_ms"][kind], reading["p90_ms"][kind],
                 round(reading["mean_ms"][kind] / reading["mean_ms"]["encoder"], 2))
                for kind in ("encoder", "ocr_no_text", "ocr_text")]
        tables.append(("OCR reading per image, in-process, interleaved with the image encoder (ms)",
                       format_table(("", "median", "mean", "p90", "mean / encoder mean"), rows)))
        goals.append(goal("OCR on a text-free photo / image encoder (means)",
                          reading["mean_ms"]["ocr_no_text"] / reading["mean_ms"]["encoder"], 3.0, False))
        goals.append(goal("OCR on a text-free photo / image encoder (medians)", reading["ocr_no_text_over_encoder"],
                          3.0, False))
    batching = document.get("recognition_batching")
    if batching:
        tables.append(("Recognition chunk size (ms per sample image)",
                       format_table(tuple(batching), [tuple(batching.values())])))
    rows = []
    for row in document.get("text_queries", []):
        latency = row["latency"]
        rows.append((f"{row['size']:,}", row["ingest_s"], row["grams_per_point"], row["disk_mib"],
                     row["disk_mib_without_ocr"],
                     *(f"{latency[k]['cpu_p50_ms']} / {latency[k]['cpu_p95_ms']} ({latency[k]['found']})"
                       for k in QUERY_KINDS)))
    if rows:
        tables.append(("Text queries (search_text: engine n-gram filter + Python verification), process CPU ms "
                       "per query p50 / p95 (found); 'before': the same whole-word queries with the previous rules",
                       format_table(("points", "ingest s", "grams/point", "disk MiB", "without OCR", *QUERY_KINDS), rows)))
    return Outcome("ocr", {"quick": document["quick"]}, document, goals, tables)


QUERY_KINDS = ("whole word", "whole word, before", "4-char part", "one typo", "absent")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ocr", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", default=None, help="text-query sizes (default 10k,100k; quick 2k; 1m works; 0: none)")
    parser.add_argument("--skip-reading", action="store_true", help="only the text-query part")
    parser.add_argument("--rendered", type=int, default=60, help="rendered photos timed (reading cost)")
    parser.add_argument("--untouched", type=int, default=200, help="untouched photos timed (reading cost)")
    parser.add_argument("--skip-batching", action="store_true", help="no recognition chunk-size comparison")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    sizes = [] if args.sizes == "0" else [_size(s) for s in (args.sizes or ("2k" if args.quick else "10k,100k")).split(",")]
    machine = machine_info()
    document: dict[str, Any] = {"quick": args.quick}
    if not args.skip_reading:
        document["reading"] = reading_cost(args.quick, args.rendered, args.untouched)
        print("reading:", json.dumps(document["reading"]), flush=True)
    if not args.skip_reading and not args.skip_batching:
        document["recognition_batching"] = batching_cost(args.quick)
        print("batching:", json.dumps(document["recognition_batching"]), flush=True)
    document["text_queries"] = []
    for size in sizes:
        document["text_queries"].append(asyncio.run(_query_latency(size, 20 if args.quick else 100)))
        print("text queries:", json.dumps(document["text_queries"][-1]), flush=True)
    result = outcome(document)
    result.show()
    command = "PYTHONPATH=server:clients/python python -m bench.ocr " + " ".join(sys.argv[1:] if argv is None else argv)
    print("saved", result.save(args.results_dir, machine, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

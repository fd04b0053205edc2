"""Face costs: `python -m bench.faces [--quick] [--sizes 10k,100k]`.

1. Detection + embedding per image with 0, 1 and several faces, through the real
   face_embedding model in Triton (end to end, one request at a time), and the same
   pipeline in-process split into decode / detect / embed (the bench may import dlib;
   the server never does).
2. Face search latency (nearest faces -> best face per item) at 10k and 100k stored
   faces, on the embedded engine with its HNSW index, and reclustering time.

Synthetic faces for part 2: person centres with dlib-like norms (~1.4), faces spread
around them (~0.3 from their centre). Results go to bench/results/faces.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.__main__ import parse_size
from bench.common import (
    REPO_ROOT,
    RESULTS_DIR,
    format_table,
    latency_summary,
    machine_info,
    print_machine,
    reproduce_command,
)

DATASETS = REPO_ROOT.parent / "shared" / "datasets"
MODEL_REPOSITORY = REPO_ROOT / "model_repository"
FACE_MODEL_DIR = MODEL_REPOSITORY / "face_embedding" / "1"
# Images by face count (counts checked by the run itself, printed beside the figures).
CASES = {
    "0 faces (Corel 450, elephants, 384x256)": DATASETS / "corel1k" / "450.jpg",
    "1 face (obama.jpg, 910x1137)": DATASETS / "faces" / "obama" / "obama.jpg",
    "2 faces (two_people.jpg, 1126x661)": DATASETS / "faces" / "two_people.jpg",
    "several faces (Corel 24, 384x256)": DATASETS / "corel1k" / "24.jpg",
}
FACES_PER_PERSON = 20
QUERIES = 200


async def model_costs(repeats: int) -> list[dict[str, Any]]:
    """End-to-end latency of the Triton model per case."""
    from imagesearch.inference.faces import FaceDetector
    from imagesearch.launcher.triton import TritonLaunchConfig, TritonProcess, free_port
    from imagesearch.models.setup import ensure_model_repository

    ensure_model_repository(MODEL_REPOSITORY)
    with tempfile.TemporaryDirectory() as work:
        config = TritonLaunchConfig(MODEL_REPOSITORY, free_port(), free_port(), free_port(), Path(work), ("face_embedding",))
        process = TritonProcess(config)
        await process.start()
        try:
            await process.wait_ready(180)
            detector = FaceDetector(process.url)
            rows = []
            for label, path in CASES.items():
                data = path.read_bytes()
                faces = len((await detector.detect(data)).faces)
                seconds = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    await detector.detect(data)
                    seconds.append(time.perf_counter() - started)
                rows.append({"case": label, "faces": faces, "triton": latency_summary(seconds)})
            await detector.close()
            return rows
        finally:
            await process.stop()


def pipeline_split(repeats: int) -> dict[str, dict[str, float]]:
    """Median decode / detect / embed milliseconds per case, in this process."""
    sys.path.insert(0, str(FACE_MODEL_DIR))
    from face_pipeline import DetectSettings, FaceModels, detect, embed_chips
    from preprocessing import decode_rgb_long_side

    models, settings = FaceModels(str(FACE_MODEL_DIR)), DetectSettings()
    split = {}
    for label, path in CASES.items():
        data = path.read_bytes()
        times: dict[str, list[float]] = {"decode_ms": [], "detect_ms": [], "embed_ms": []}
        for _ in range(repeats):
            t0 = time.perf_counter()
            decoded = decode_rgb_long_side(data, 64_000_000, settings.detect_long_side)
            t1 = time.perf_counter()
            faces = detect(models, decoded.image, settings)
            t2 = time.perf_counter()
            embed_chips(models, [f.chip for f in faces])
            t3 = time.perf_counter()
            for key, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                times[key].append(seconds * 1000)
        split[label] = {key: round(float(np.median(v)), 1) for key, v in times.items()}
    return split


def synthetic_faces(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings of `count` faces of count / FACES_PER_PERSON people, and each face's person."""
    rng = np.random.default_rng(seed)
    people = max(1, count // FACES_PER_PERSON)
    centres = rng.normal(size=(people, 128))
    centres *= 1.4 / np.linalg.norm(centres, axis=1, keepdims=True)
    owner = rng.integers(0, people, count)
    return (centres[owner] + rng.normal(scale=0.3 / np.sqrt(128), size=(count, 128))).astype(np.float32), owner


async def search_costs(count: int, queries: int, recluster: bool) -> dict[str, Any]:
    """Fill a face store with `count` faces (one per item), index it, time face searches."""
    from imagesearch.faces.manager import FaceManager, FaceSettings
    from imagesearch.faces.people import Assignment
    from imagesearch.inference.triton_client import EncoderInfo
    from imagesearch.store.base import PointToStore
    from imagesearch.store.faces import (
        FACE_SPACE,
        FaceStore,
        FaceToStore,
        _payload,
        face_id,
        open_face_vectors,
    )
    from imagesearch.store.people_file import PeopleFiles

    class Info:
        async def info(self) -> EncoderInfo:
            return EncoderInfo("dlib-resnet-v1-5point-chip150", "1", 128)

    embeddings, owner = synthetic_faces(count, seed=1)
    with tempfile.TemporaryDirectory() as work:
        vectors = open_face_vectors(Path(work), index_threshold=0)
        manager = FaceManager(FaceStore(vectors), PeopleFiles(Path(work)), Info(), FaceSettings(recluster_every=0))
        await manager.enable("bench")
        started = time.perf_counter()
        for start in range(0, count, 512):
            batch = []
            for i in range(start, min(start + 512, count)):
                face = FaceToStore((0.0, 0.0, 80.0, 80.0), 1.5, ((0.0, 0.0),) * 5, embeddings[i])
                meta = _payload(f"item-{i}", 0, face, Assignment(f"person-{owner[i] + 1}"))
                batch.append(PointToStore(face_id(f"item-{i}", 0), {FACE_SPACE: embeddings[i]}, meta))
            await vectors.upsert("bench", batch)
        upsert_s = time.perf_counter() - started
        started = time.perf_counter()
        await vectors.build_index("bench")
        build_s = time.perf_counter() - started
        probes, probe_owner = embeddings[:queries] + 0.01, owner[:queries]
        seconds, found = [], 0
        for probe, person in zip(probes, probe_owner):
            t = time.perf_counter()
            matches = await manager._matches("bench", probe, 10, 0.5)
            seconds.append(time.perf_counter() - t)
            found += sum(1 for m in matches if owner[int(m.item_id.split("-")[1])] == person)
        result = {
            "faces": count, "upsert_faces_per_s": round(count / upsert_s), "index_build_s": round(build_s, 1),
            "search": latency_summary(seconds), "same_person_hits_per_query": round(found / queries, 2),
        }
        if recluster:
            started = time.perf_counter()
            report = await manager.recluster("bench")
            result["recluster_s"] = round(time.perf_counter() - started, 1)
            result["recluster_people"] = report.people
            result["true_people"] = len(set(owner.tolist()))
        await manager.close()
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few repeats")
    parser.add_argument("--sizes", default=None, help="stored faces for the search part (default 10k,100k)")
    args = parser.parse_args()
    machine = machine_info()
    print_machine(machine, reproduce_command(sys.argv))
    repeats = 3 if args.quick else 15
    sizes = [parse_size(s) for s in (args.sizes or ("2k" if args.quick else "10k,100k")).split(",")]
    model = asyncio.run(model_costs(repeats))
    split = pipeline_split(repeats)
    search = [asyncio.run(search_costs(n, 50 if args.quick else QUERIES, recluster=n <= 10_000)) for n in sizes]
    print(format_table(
        ["image", "faces", "Triton p50 ms", "decode ms", "detect ms", "embed ms"],
        [[r["case"], r["faces"], r["triton"]["p50_ms"], *split[r["case"]].values()] for r in model],
    ))
    print(format_table(
        ["faces stored", "search p50 ms", "search p99 ms", "index build s", "recluster s"],
        [[s["faces"], s["search"]["p50_ms"], s["search"]["p99_ms"], s["index_build_s"], s.get("recluster_s", "-")]
         for s in search],
    ))
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out = RESULTS_DIR / ("faces-quick.json" if args.quick else "faces.json")
    out.write_text(json.dumps({"machine": machine, "model": model, "split": split, "search": search}, indent=2))
    print(f"saved {out}")


if __name__ == "__main__":
    main()

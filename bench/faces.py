"""Face costs: `python -m bench.faces [--quick] [--sizes 10k,100k] [--docs]`.

1. Detection + embedding per image with 0, 1 and several faces, through the real
   face_embedding model in Triton (end to end, one request at a time), and the same
   pipeline in-process split into decode / detect / embed (the bench may import dlib;
   the server never does).
2. Ingest images/s (and CPU per image) with faces on vs off, on one real server, in the
   same run, the two sides alternating.
3. Face search latency (nearest faces -> best face per item) at 10k and 100k stored
   faces, on the embedded engine with its HNSW index, and reclustering time.

Synthetic faces for part 3: person centres with dlib-like norms (~1.4), faces spread
around them (~0.3 from their centre). Results go to bench/results/faces.json (the
report's format); --docs also rewrites the faces section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.__main__ import DOCS_PATH, parse_size
from bench.common import (
    REPO_ROOT,
    RESULTS_DIR,
    CpuMeter,
    Outcome,
    corel_images,
    descendants,
    format_table,
    latency_summary,
    machine_info,
    print_machine,
)
from bench.report import splice_section

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
        store, files = FaceStore(vectors), PeopleFiles(Path(work))
        await FaceManager(store, files, Info(), FaceSettings(recluster_every=0)).enable("bench")
        started = time.perf_counter()
        for start in range(0, count, 512):
            batch = []
            for i in range(start, min(start + 512, count)):
                face = FaceToStore((0.0, 0.0, 80.0, 80.0), 1.5, ((0.0, 0.0),) * 5, embeddings[i])
                meta = _payload(f"item-{i}", 0, face, Assignment(f"person-{owner[i] + 1}"))
                batch.append(PointToStore(face_id(f"item-{i}", 0), {FACE_SPACE: embeddings[i]}, meta))
            await vectors.upsert("bench", batch)
        upsert_s = time.perf_counter() - started
        # A manager made after the faces were written reads their people from the store, as
        # after a restart (the points went in around the manager, so one made before would
        # hold an empty view of them and a recluster would leave every face alone).
        manager = FaceManager(store, files, Info(), FaceSettings(recluster_every=0))
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


async def ingest_on_off(images: list[bytes], rounds: int) -> dict[str, Any]:
    """ImportItems images/s and CPU per image into a collection with faces vs one without,
    on one real server, the two sides alternating round by round (the machine is shared:
    only the ratio of the same run means much). Both skip NSFW scoring and duplicate
    lookups, so the difference is the face model and storing the faces."""
    from imagesearch.launcher.api_server import ServerProcess
    from imagesearch_client import AsyncImageSearchClient, InsertItem

    rates: dict[str, list[float]] = {"off": [], "on": []}
    cpu: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    faces_stored = 0
    with tempfile.TemporaryDirectory(prefix="bench-faces-") as tmp:
        with ServerProcess(Path(tmp) / "server", metrics_port=0, http_port=0, log_level="WARNING") as server:
            groups = {"api_server": lambda: [server.process.pid], "triton": lambda: descendants(server.process.pid)}
            async with AsyncImageSearchClient(server.address, timeout=120) as client:
                for r in range(rounds):
                    for side in ("off", "on"):
                        name = f"faces-{side}-{r}"
                        await client.create_collection(name, skip_nsfw_scoring=True, faces_enabled=side == "on")
                        items = [InsertItem(image=data, id=str(i), duplicate_policy="ignore")
                                 for i, data in enumerate(images)]
                        with CpuMeter(groups) as meter:
                            started = time.perf_counter()
                            failed = [o async for o in client.import_items(name, items, timeout=3600) if not o.ok]
                            elapsed = time.perf_counter() - started
                        if failed:
                            raise RuntimeError(f"{len(failed)} inserts failed, first: {failed[0]}")
                        rates[side].append(len(images) / elapsed)
                        cpu[side].append(meter.ms_per(len(images)))
                        if side == "on" and r == 0:
                            faces_stored = sum([p.face_count async for p in client.list_people(name, min_face_count=1)])
    off, on = float(np.median(rates["off"])), float(np.median(rates["on"]))
    return {
        "images": len(images), "rounds": rounds, "faces_stored": faces_stored,
        "images_per_s": {"off": round(off, 2), "on": round(on, 2)}, "ratio_on_off": round(on / off, 3),
        "cpu_ms_per_image": {side: {k: round(float(np.median([c[k] for c in cpu[side]])), 1) for k in groups}
                             for side in ("off", "on")},
    }


def outcome(params: dict[str, Any], model: list, split: dict, ingest: dict, search: list) -> Outcome:
    """The figures as the report's tables and notes (bench/report.py renders them)."""
    per_image = format_table(
        ["image", "faces", "Triton p50 ms", "decode ms", "detect ms", "embed ms"],
        [[r["case"], r["faces"], r["triton"]["p50_ms"], *split[r["case"]].values()] for r in model],
    )
    cpu = ingest["cpu_ms_per_image"]
    ingest_table = format_table(
        ["collection", "images/s", "API server CPU ms/image", "Triton CPU ms/image"],
        [[f"faces {side}", ingest["images_per_s"][side], cpu[side]["api_server"], cpu[side]["triton"]]
         for side in ("off", "on")],
    )
    search_table = format_table(
        ["faces stored", "search p50 ms", "search p99 ms", "same-person hits / query", "index build s",
         "upsert faces/s", "recluster s", "recluster people / true"],
        [[f"{s['faces']:,}", s["search"]["p50_ms"], s["search"]["p99_ms"], s["same_person_hits_per_query"],
          s["index_build_s"], s["upsert_faces_per_s"], s.get("recluster_s", "-"),
          f"{s['recluster_people']} / {s['true_people']}" if "recluster_s" in s else "-"] for s in search],
    )
    cpu_total = {side: cpu[side]["api_server"] + cpu[side]["triton"] for side in ("off", "on")}
    notes = [
        f"Ingest with faces on runs at {ingest['ratio_on_off']}x the images/s of faces off "
        f"({ingest['images']} Corel photos spread over its ten classes, {ingest['faces_stored']} faces found, "
        f"median of {ingest['rounds']} alternating rounds; NSFW scoring and duplicate lookups off on both sides). "
        f"By CPU per image (API server + Triton, steadier than wall time on a shared machine) faces on cost "
        f"{cpu_total['on'] / max(cpu_total['off'], 1e-9):.1f}x faces off: "
        f"{cpu_total['on'] - cpu_total['off']:.0f} ms more per image.",
        "Per image: detection runs on every image (HOG at 1024 px); embedding and the CNN check of doubtful "
        "boxes cost per face, so time grows with the faces found.",
        "Face search: synthetic dlib-like faces (20 per person), one query embedding (detection of the query "
        "image not included), nearest faces -> best face per item above the same-person line, int8 HNSW.",
    ]
    return Outcome(
        "faces", params, {"model": model, "split": split, "ingest": ingest, "search": search}, [],
        [("Detection and embedding per image (one request at a time)", per_image),
         ("Ingest, faces off vs on (same server, same run)", ingest_table),
         ("Face search by stored faces", search_table)],
        notes,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, 10k faces only, a small ingest")
    parser.add_argument("--sizes", default=None, help="stored faces for the search part (default 10k,100k)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where faces.json goes")
    parser.add_argument("--docs", action="store_true", help="also put the faces section into docs/benchmarks.md")
    args = parser.parse_args()
    machine = machine_info()
    command = "PYTHONPATH=server:clients/python python -m bench.faces " + shlex.join(sys.argv[1:])
    print_machine(machine, command)
    repeats = 3 if args.quick else 15
    sizes = [parse_size(s) for s in (args.sizes or ("10k" if args.quick else "10k,100k")).split(",")]
    params = {"quick": args.quick, "repeats": repeats, "face_counts": sizes}
    model = asyncio.run(model_costs(repeats))
    split = pipeline_split(repeats)
    ingest = asyncio.run(ingest_on_off(corel_images(30 if args.quick else 100), 2 if args.quick else 3))
    search = [asyncio.run(search_costs(n, 50 if args.quick else QUERIES, recluster=n <= 10_000)) for n in sizes]
    result = outcome(params, model, split, ingest, search)
    result.show()
    path = result.save(args.results_dir, machine, command)
    print(f"saved {path}")
    if args.docs:
        splice_section(DOCS_PATH, json.loads(path.read_text()))
        print(f"updated {DOCS_PATH}")


if __name__ == "__main__":
    main()

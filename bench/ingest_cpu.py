"""The API server's own CPU per inserted image, in-process: the real insert pipeline
(api/ingest.py: checks, settings reads, fingerprint, duplicate candidates, the embedded
store's write) over the served model's real Corel-1K embeddings, with Triton replaced by a
lookup of those embeddings, so the figure is what the API process spends besides gRPC.
Inserts take the path the server takes for the offline model set: Triton's image_analysis
pipeline (here a lookup of the vectors and of the fingerprint's thumbnail and pHash,
computed before the measurement), so the API process does not decode; `--separate` takes
the path of a model set without the pipeline (the fingerprint decoded in the API process).

`python -m bench.ingest_cpu [--count N] [--against /work/main]` prints CPU ms per image
for embed-only inserts (skip_nsfw_scoring, DUPLICATE_POLICY_IGNORE) and for default inserts
(duplicate checks: the originals with ALLOW, then bench.duplicates' 300 edited copies with
SKIP, whose recall it also prints). With --against, the same figures for another checkout's
server code, alternating runs, so before and after come from one run on one machine.
Embeddings are computed once with the served ONNX model and cached in bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import RESULTS_DIR, REPO_ROOT, corel_images, machine_info, print_machine

TEXT_DIMENSION = 384


def _embeddings(images: list[bytes]) -> dict[str, np.ndarray]:
    """sha256 -> the served image model's embedding, cached on disk."""
    cache = RESULTS_DIR / "ingest_cpu_embeddings.npz"
    known: dict[str, np.ndarray] = dict(np.load(cache)) if cache.exists() else {}
    missing = [b for b in images if hashlib.sha256(b).hexdigest() not in known]
    if missing:
        from bench.duplicates import _embedder

        embed = _embedder()
        for data in missing:
            known[hashlib.sha256(data).hexdigest()] = np.asarray(embed(data), dtype=np.float32)
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, **known)
    return known


class LookupEncoder:
    """Stands in for Triton's image model: the precomputed embedding of the image."""

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self._table = table

    async def embed_outputs(self, image: bytes, outputs: tuple[str, ...]) -> dict[str, np.ndarray]:
        return self.lookup(image)

    def lookup(self, image: bytes) -> dict[str, np.ndarray]:
        key = hashlib.sha256(image).hexdigest()
        vector = self._table[key]
        rng = np.random.default_rng(int(key[:8], 16))
        text = rng.normal(size=TEXT_DIMENSION).astype(np.float32)
        return {"EMBEDDING": vector, "TEXT_IMAGE_EMBEDDING": text / np.linalg.norm(text)}

    async def is_ready(self) -> bool:
        return True

    async def close(self) -> None:
        pass


class LookupAnalyser:
    """Stands in for Triton's image_analysis pipeline: the image's precomputed vectors,
    NSFW score and fingerprint parts, found by the bytes themselves (a dict lookup, not a
    hash the real pipeline would not compute)."""

    def __init__(self, table: dict[str, np.ndarray], images: list[bytes]) -> None:
        from imagesearch.dedup.fingerprint import fingerprint
        from imagesearch.inference.analysis import FingerprintParts

        self._results: dict[bytes, tuple[dict[str, np.ndarray], object]] = {}
        encoder = LookupEncoder(table)
        for image in images:
            vectors = encoder.lookup(image)
            fp = fingerprint(image)
            self._results[image] = (vectors, FingerprintParts(thumb=fp.thumb, phash=fp.phash))

    async def analyse(self, image: bytes, want):
        from imagesearch.inference.analysis import ImageAnalysisResult

        vectors, parts = self._results[image]
        return ImageAnalysisResult(vectors={k: vectors[k] for k in want.vector_outputs},
                                   nsfw_score=0.01 if want.nsfw else None,
                                   fingerprint=parts if want.fingerprint else None)

    async def close(self) -> None:
        pass


class ConstantNsfw:
    async def score(self, image: bytes) -> float:
        return 0.01


async def _measure(originals: list[bytes], copies: list[tuple[int, bytes]], table: dict[str, np.ndarray],
                   analyser: "LookupAnalyser | None") -> dict:
    from imagesearch_client.v1 import imagesearch_pb2 as pb

    from imagesearch.api.service import ImageSearchService, ServiceLimits
    from imagesearch.inference.model_sets import ServedModelSet
    from imagesearch.models.model_sets import MODEL_SETS
    from imagesearch.store.base import ModelRecord, ModelSetRecord, ModerationPolicy, SpaceRecord
    from imagesearch.store.edge import EdgeStore

    spec = MODEL_SETS["offline"]
    dimension = len(next(iter(table.values())))
    record = ModelSetRecord(spec.name, (SpaceRecord("image", ModelRecord("bench", "1", dimension)),
                                        SpaceRecord("text_image", ModelRecord("bench-t", "1", TEXT_DIMENSION))))
    served = ServedModelSet(spec, record, LookupEncoder(table), {}, analyser)
    with tempfile.TemporaryDirectory(prefix="ingest-cpu-") as tmp:
        store = EdgeStore(Path(tmp))
        service = ImageSearchService(store=store, model_sets={"offline": served}, default_model_set="offline",
                                     limits=ServiceLimits(64_000_000, 4), fetcher=None, nsfw=ConstantNsfw())
        ingestor = service.ingestor

        async def insert(name: str, image: bytes, item: str, policy: int) -> pb.Item:
            request = pb.CreateItemRequest(parent=f"collections/{name}", item_id=item,
                                           image=pb.Image(content=image), duplicate_policy=policy)
            return await ingestor.create(request)

        async def timed(name: str, batch: list[tuple[str, bytes]], policy: int) -> tuple[float, list]:
            # Four at a time, as the server's insert_concurrency lets a stream do.
            slots = asyncio.Semaphore(4)

            async def one(item: str, image: bytes):
                async with slots:
                    return await insert(name, image, item, policy)

            if not batch:
                return 0.0, []
            started = time.process_time()
            results = await asyncio.gather(*(one(i, b) for i, b in batch))
            return (time.process_time() - started) / len(batch) * 1000, results

        await store.create_collection("embed", record, ModerationPolicy(scoring=False))
        await store.create_collection("checks", record)
        batch = [(f"corel-{k}", b) for k, b in enumerate(originals)]
        embed_ms, _ = await timed("embed", batch, pb.DUPLICATE_POLICY_IGNORE)
        checks_ms, flagged = await timed("checks", batch, pb.DUPLICATE_POLICY_ALLOW)
        copies_ms, items = await timed("checks", [(f"copy-{k}", b) for k, (_, b) in enumerate(copies)],
                                       pb.DUPLICATE_POLICY_SKIP)
        search_ms = await _search_cpu(service, "checks", originals[:300])
        found = sum(item.item_id == f"corel-{o}" for item, (o, _) in zip(items, copies))
        await store.close()
    return {"embed_only_ms": embed_ms, "checks_originals_ms": checks_ms, "checks_copies_ms": copies_ms,
            "copy_recall": found / max(len(copies), 1),
            "originals_flagged": sum(item.HasField("duplicate") for item in flagged), "search_ms": search_ms}


async def _search_cpu(service, collection: str, images: list[bytes]) -> float:
    """API-process CPU ms per one-image SearchItems (top 10), one client, through the servicer
    (gRPC's own transport excluded; the context is only used for failures, and none happen)."""
    from imagesearch_client.v1 import imagesearch_pb2 as pb

    requests = [pb.SearchItemsRequest(parent=f"collections/{collection}", image=pb.Image(content=image), top_k=10)
                for image in images]
    started = time.process_time()
    for request in requests:
        hits = [response async for response in service.SearchItems(request, None)]
        assert len(hits) == 10
    return (time.process_time() - started) / len(requests) * 1000


def measure(count: int, separate: bool = False) -> dict:
    from bench.duplicates import transformed_copies

    originals = corel_images(count)
    copies = [(c.original, c.data) for c in transformed_copies() if c.original < count] if count >= 1000 else []
    images = originals + [b for _, b in copies]
    table = _embeddings(images)
    analyser = None if separate else LookupAnalyser(table, images)
    return asyncio.run(_measure(originals, copies, table, analyser))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_cpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1000, help="Corel photos to insert (1000: with the copies)")
    parser.add_argument("--against", type=Path, help="another checkout whose server/ to measure alternately")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--separate", action="store_true",
                        help="inserts without the image_analysis pipeline (the API process decodes the fingerprint)")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # one measurement, for --against
    args = parser.parse_args(argv)
    if args.json:
        print(json.dumps(measure(args.count, args.separate)))
        return 0
    print_machine(machine_info(), "PYTHONPATH=server:clients/python python -m bench.ingest_cpu " + " ".join(argv or sys.argv[1:]))
    _embeddings(corel_images(args.count))  # computed once, outside the measurements
    sides = {"this": REPO_ROOT / "server"} | ({"against": args.against / "server"} if args.against else {})
    results: dict[str, list[dict]] = {name: [] for name in sides}
    for _ in range(args.rounds):
        for name, server in sides.items():
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(server), str(REPO_ROOT / "clients" / "python"),
                                                              str(REPO_ROOT)]))
            done = subprocess.run([sys.executable, "-m", "bench.ingest_cpu", "--json", "--count", str(args.count),
                                   *(["--separate"] if args.separate else [])],
                                  env=env, cwd=REPO_ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"the measurement of {server} failed:\n{done.stderr[-3000:]}")
            out = done.stdout
            results[name].append(json.loads(out.strip().splitlines()[-1]))
    for name, runs in results.items():
        keys = runs[0].keys()
        medians = {k: float(np.median([r[k] for r in runs])) for k in keys}
        print(f"{name:8s} ({sides[name]}): " + ", ".join(f"{k} {v:.3f}" for k, v in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the replica-safe duplicate check (dedup/replicas.py) costs per insert, embedded store.

    PYTHONPATH=server:clients/python .venv/bin/python -m bench.replicas_cost --items 300

Inserts the same distinct images (textured, 256x192, fingerprints computed beforehand) into
two fresh embedded collections, one at a time, through the check with claims and through the
check without them (find, then write: what one process did before), alternating in blocks so
that load on the machine hits both alike, and prints process CPU time per insert and store
calls per insert for each. Vectors are random 1280-d unit vectors (the offline set's image
space), so no image is a duplicate: the common case. The remote store's cost is round trips
to Qdrant (four more per insert, counted here) and was not measured: no Qdrant here.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imagesearch.dedup.detector import DuplicateDetector
from imagesearch.dedup.fingerprint import fingerprint
from imagesearch.dedup.replicas import ReplicaSafeCheck
from imagesearch.store.base import ModelRecord, ModelSetRecord, ModerationPolicy, PointToStore, SpaceRecord
from imagesearch.store.edge import EdgeStore

DIMENSION = 1280
SET = ModelSetRecord("bench", (SpaceRecord("image", ModelRecord("random", "1", DIMENSION)),))
BLOCK = 25


class Counting:
    """The store, counting calls by method."""

    def __init__(self, store: EdgeStore) -> None:
        self._store, self.calls = store, Counter()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if not asyncio.iscoroutinefunction(method):
            return method

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return await method(*args, **kwargs)

        return counted


def _images(count: int) -> list[bytes]:
    rng = np.random.default_rng(3)
    out = []
    for _ in range(count):
        data = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).resize((256, 192)).save(data, "JPEG")
        out.append(data.getvalue())
    return out


async def _run(items: int) -> None:
    rng = np.random.default_rng(5)
    images = _images(items)
    fps = [fingerprint(image) for image in images]
    vectors = rng.normal(size=(items, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        store = EdgeStore(Path(tmp))
        counting = Counting(store)
        for name in ("claims", "plain"):
            await store.create_collection(name, SET, ModerationPolicy(scoring=False))
        detector = DuplicateDetector(counting)
        check = ReplicaSafeCheck(counting, detector)
        cpu = {"claims": 0.0, "plain": 0.0}
        calls = {"claims": Counter(), "plain": Counter()}

        async def claims(k: int, point: PointToStore) -> None:
            await check.store_unless_duplicate("claims", point, fps[k], "image", store_anyway=False)

        async def plain(k: int, point: PointToStore) -> None:
            if await detector.find("plain", vectors[k], fps[k], exclude_id=point.id, space="image") is None:
                await counting.upsert("plain", [point])

        for start in range(0, items, BLOCK):
            for name, insert in (("claims", claims), ("plain", plain)):
                before, counting.calls = time.process_time(), Counter()
                for k in range(start, min(start + BLOCK, items)):
                    point = PointToStore(id=f"i{k}", vectors={"image": vectors[k]}, fingerprint=fps[k].to_payload())
                    await insert(k, point)
                cpu[name] += time.process_time() - before
                calls[name] += counting.calls
        await store.close()
    print(f"{items} inserts each, no duplicates, embedded store; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    for name in ("plain", "claims"):
        per = {k: v / items for k, v in sorted(calls[name].items())}
        print(f"  {name:6s}: {1000 * cpu[name] / items:.2f} ms CPU per insert; store calls per insert {per}")
    print(f"  ratio claims/plain CPU: {cpu['claims'] / cpu['plain']:.2f}")
    print("  command: PYTHONPATH=server:clients/python .venv/bin/python -m bench.replicas_cost --items", items)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.replicas_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=300, help="inserts per variant (default 300)")
    asyncio.run(_run(parser.parse_args(argv).items))


if __name__ == "__main__":
    main()

"""Builds a collection's HNSW index without freezing the serving process.

qdrant-edge builds HNSW only inside optimize(), which holds the GIL for the whole build
(minutes per 100k points), and a shard directory can be opened by one EdgeShard only. So:

(a) with writes blocked: flush the live shard, copy its directory (WAL included: without
    it the copy restarts operation numbers and silently ignores later updates of old
    points) to shard.building/, start journaling writes in memory; unblock.
(b) `python -m imagesearch.store.indexer <shard.building>` runs optimize() in a child
    process; the event loop just awaits its exit. Queries and writes go on meanwhile.
(c) with writes blocked: open the built copy, replay the journal into it, flush, close;
    then, with queries blocked too (for one close + one load), swap directories and open
    the new live shard. See layout.py for why a crash at any point leaves a valid shard.

A failed or cancelled build changes nothing but the time spent: the live shard is the
source of truth until the swap. The journal holds the writes of one build in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Coroutine

from qdrant_edge import EdgeShard

import imagesearch
from imagesearch.store.base import StoreError
from imagesearch.store.collection import LiveCollection
from imagesearch.store.layout import recover, swap_in_building


class IndexBuildError(StoreError):
    """The child process could not build the index."""


@dataclass(frozen=True)
class BuildReport:
    """What one index build did."""

    collection: str
    indexed_count: int
    journaled_writes: int
    copy_s: float
    optimize_s: float
    swap_s: float


async def build_index(collection: LiveCollection) -> BuildReport:
    """Index `collection` on a copy in a child process and swap the copy in."""
    paths = collection.paths
    try:
        started = time.monotonic()
        await _snapshot(collection)
        copied = time.monotonic()
        await optimize_in_child(paths.building)
        optimized = time.monotonic()
        journaled = await _uninterrupted(_swap(collection))
        swapped = time.monotonic()
    finally:
        collection.journal = None
        if paths.building.exists():
            await asyncio.to_thread(shutil.rmtree, paths.building, True)
    info = await collection.info()
    return BuildReport(
        collection=collection.name,
        indexed_count=info.indexed_count,
        journaled_writes=journaled,
        copy_s=copied - started,
        optimize_s=optimized - copied,
        swap_s=swapped - optimized,
    )


async def _snapshot(collection: LiveCollection) -> None:
    """Step (a): a consistent copy of the live shard, and journaling from then on."""
    paths = collection.paths
    async with collection.write_lock:
        await collection.run(EdgeShard.flush)
        if paths.building.exists():
            await asyncio.to_thread(shutil.rmtree, paths.building)
        await asyncio.to_thread(shutil.copytree, paths.shard, paths.building)
        collection.journal = []


async def optimize_in_child(shard_dir: Path) -> None:
    """Step (b): run optimize() on `shard_dir` in a child process; kill it if cancelled."""
    package_root = str(Path(imagesearch.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "imagesearch.store.indexer",
        str(shard_dir),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await child.communicate()
    except BaseException:
        if child.returncode is None:
            child.kill()
            await child.wait()
        raise
    if child.returncode != 0:
        raise IndexBuildError(
            f"index build of {shard_dir} exited with {child.returncode}: "
            f"{stderr.decode(errors='replace')[-2000:]}"
        )


async def _swap(collection: LiveCollection) -> int:
    """Step (c): bring the copy up to date and make it the live shard; returns journal size."""
    paths = collection.paths
    async with collection.write_lock:
        if collection.closed:
            raise IndexBuildError(f"collection {collection.name!r} was closed during its index build")
        journal = collection.journal or []
        await asyncio.to_thread(_replay, paths.building, journal)
        async with collection.access.exclusive():
            collection.journal = None
            await asyncio.to_thread(collection.shard.close)
            try:
                await asyncio.to_thread(swap_in_building, paths)
            finally:
                # Whatever the renames reached, recover() leaves one complete shard/.
                await asyncio.to_thread(recover, paths)
                collection.shard = await asyncio.to_thread(EdgeShard.load, str(paths.shard))
    return len(journal)


async def _uninterrupted(step: Coroutine[Any, Any, int]) -> int:
    """Run `step` to its end even if the caller is cancelled, then pass the cancellation on.

    The swap must not stop halfway (live shard closed, new one not opened yet).
    """
    task = asyncio.ensure_future(step)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
            break
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError()
    return result


def _replay(shard_dir: Path, journal: list) -> None:
    """Apply the journaled writes to the built copy and persist them."""
    shard = EdgeShard.load(str(shard_dir))
    try:
        for operation in journal:
            shard.update(operation)
        shard.flush()
    finally:
        shard.close()


def optimize_shard(shard_dir: Path) -> dict[str, int]:
    """Child side: build the index of the shard at `shard_dir` (holds the GIL throughout)."""
    shard = EdgeShard.load(str(shard_dir))
    try:
        shard.optimize()
        shard.flush()
        info = shard.info()
        return {"points": info.points_count, "indexed": info.indexed_vectors_count}
    finally:
        shard.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m imagesearch.store.indexer SHARD_DIR")
    # A build is background work: on a small machine it must yield the cores to serving.
    os.nice(10)
    print(json.dumps(optimize_shard(Path(sys.argv[1]))))

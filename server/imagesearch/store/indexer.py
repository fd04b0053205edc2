"""Builds a collection's HNSW index without freezing the serving process.

qdrant-edge builds HNSW only inside optimize(), which holds the GIL for the whole build
(minutes per 100k points), and a shard directory can be opened by one EdgeShard only. So:

(a) with writes blocked: flush the live shard, copy its directory (WAL included: without
    it the copy restarts operation numbers and silently ignores later updates of old
    points) to shard.building/, start journaling writes (journal.py); unblock.
(b) `python -m imagesearch.store.indexer <shard.building>` runs optimize() in a child
    process, niced; the event loop just waits for its "built" line. Queries and writes go
    on meanwhile.
(c) with writes blocked: send the journal to the child, which replays it into the built
    copy, flushes and exits; then, with queries blocked too (for one close + one load),
    swap directories and open the new live shard. Loading a shard holds the GIL (about
    half a second at 100k points), so the replay happens in the child: the serving process
    loads the built shard once. See layout.py for why a crash at any point leaves a valid
    shard.

A failed or cancelled build changes nothing but the time spent: the live shard is the
source of truth until the swap. The journal holds the writes of one build in memory.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
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
from imagesearch.store.journal import Write, replay
from imagesearch.store.layout import recover, swap_in_building

# The child's line on stdout once optimize() is done and it waits for the journal.
BUILT_MARKER = "imagesearch-index-built"
STDERR_TAIL_BYTES = 2000


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
    child = BuildChild(paths.building)
    try:
        started = time.monotonic()
        await _snapshot(collection)
        copied = time.monotonic()
        await child.start()
        await child.built()
        optimized = time.monotonic()
        journaled = await _uninterrupted(_swap(collection, child))
        swapped = time.monotonic()
    finally:
        await child.kill()
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


class BuildChild:
    """The child process that builds the index of a shard copy (step b) and replays the
    journal into it (step c)."""

    def __init__(self, shard_dir: Path) -> None:
        self._shard_dir = shard_dir
        self._process: asyncio.subprocess.Process | None = None
        self._stderr_tail = b""
        self._stderr_reader: asyncio.Task | None = None

    async def start(self) -> None:
        """Start `python -m imagesearch.store.indexer SHARD_DIR`."""
        package_root = str(Path(imagesearch.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "imagesearch.store.indexer",
            str(self._shard_dir),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Drained all along: a child blocked on a full stderr pipe would never finish.
        self._stderr_reader = asyncio.create_task(self._keep_stderr_tail())

    async def _keep_stderr_tail(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        while chunk := await self._process.stderr.read(4096):
            self._stderr_tail = (self._stderr_tail + chunk)[-STDERR_TAIL_BYTES:]

    async def built(self) -> None:
        """Wait until the index is built; IndexBuildError if the child dies first."""
        assert self._process is not None and self._process.stdout is not None
        while line := await self._process.stdout.readline():
            if line.decode(errors="replace").strip() == BUILT_MARKER:
                return
        await self._failed()

    async def replay(self, journal: list[Write]) -> None:
        """Hand the journal over and wait for the child to apply it, flush and exit."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(pickle.dumps(journal, protocol=pickle.HIGHEST_PROTOCOL))
        await self._process.stdin.drain()
        self._process.stdin.close()
        await self._process.stdout.read()
        if await self._process.wait() != 0:
            await self._failed()

    async def _failed(self) -> None:
        assert self._process is not None and self._stderr_reader is not None
        returncode = await self._process.wait()
        await self._stderr_reader
        stderr = self._stderr_tail.decode(errors="replace")
        raise IndexBuildError(f"index build of {self._shard_dir} exited with {returncode}: {stderr}")

    async def kill(self) -> None:
        """Stop the child if it still runs (a failed or cancelled build)."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        if self._stderr_reader is not None:
            await self._stderr_reader


async def _swap(collection: LiveCollection, child: BuildChild) -> int:
    """Step (c): bring the copy up to date and make it the live shard; returns journal size."""
    paths = collection.paths
    async with collection.write_lock:
        if collection.closed:
            raise IndexBuildError(f"collection {collection.name!r} was closed during its index build")
        journal = collection.journal or []
        await child.replay(journal)
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


def build_and_replay(shard_dir: Path) -> dict[str, int]:
    """Child side: build the index of the shard at `shard_dir` (optimize() holds the GIL
    throughout), say so on stdout, then replay the pickled journal read from stdin."""
    shard = EdgeShard.load(str(shard_dir))
    try:
        shard.optimize()
        print(BUILT_MARKER, flush=True)
        journal = pickle.loads(sys.stdin.buffer.read())
        replayed = replay(shard, journal)
        shard.flush()
        info = shard.info()
        return {"points": info.points_count, "indexed": info.indexed_vectors_count, "replayed": replayed}
    finally:
        shard.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m imagesearch.store.indexer SHARD_DIR  (the journal comes on stdin)")
    # A build is background work: on a small machine it must yield the cores to serving.
    os.nice(10)
    print(json.dumps(build_and_replay(Path(sys.argv[1]))))

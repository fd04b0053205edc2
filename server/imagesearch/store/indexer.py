"""Builds a collection's HNSW index without freezing the serving process.

qdrant-edge builds HNSW only inside optimize(), which holds the GIL for the whole build
(minutes per 100k points), and a shard directory can be opened by one EdgeShard only. So:

(a) with writes blocked: check the disk has room (free >= shard size x disk_margin), flush
    the live shard, copy its directory (WAL included: without it the copy restarts
    operation numbers and silently ignores later updates of old points) to
    shard.building/, start journaling writes to build.journal (journal.py); unblock.
(b) `python -m imagesearch.store.indexer <shard.building>` runs optimize() in a child
    process, niced; the event loop just waits for its "built" line. Queries and writes go
    on meanwhile.
(c) with writes blocked: tell the child to replay the journal file into the built copy,
    flush and exit; load the built copy where it is while the old shard serves on (no
    rename: layout.py), warm its memory-mapped files, record it in live_shard, then, with
    queries blocked only for a change of reference, make it the live shard; close the old
    one and delete it. A load holds the GIL (0.2 s at 100k int8 points, most of it
    parsing the WAL's last segment), so the replay happens in the child and the serving
    process loads the built shard once; see layout.py for why a crash at any point leaves
    a valid shard.

A failed or cancelled build changes nothing but the time spent: the live shard is the
source of truth until the swap. A journal that outgrows its bound abandons the build
(JournalOverflow) as soon as it does, instead of at the swap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Coroutine

from qdrant_edge import CountRequest, EdgeShard

import imagesearch
from imagesearch.child_env import scrubbed_environment
from imagesearch.store.base import StoreError
from imagesearch.store.collection import LiveCollection
from imagesearch.store.journal import JournalFile, read_journal, replay
from imagesearch.store.layout import CollectionPaths, discard, make_live, warm_page_cache
from imagesearch.store.shard_config import with_cold_float_vectors
from imagesearch.store.shard_files import load_shard

# The child's line on stdout once optimize() is done and it waits for the journal.
BUILT_MARKER = "imagesearch-index-built"
# The parent's line on the child's stdin once the journal file is complete.
REPLAY_COMMAND = "replay"
STDERR_TAIL_BYTES = 2000

log = logging.getLogger(__name__)


class IndexBuildError(StoreError):
    """The index could not be built or swapped in; the live shard is unchanged."""


class InsufficientDiskSpace(IndexBuildError):
    """Not enough free disk for a build to start (it copies the shard)."""


class JournalOverflow(IndexBuildError):
    """The writes made during the build outgrew IndexSettings.journal_max_bytes."""


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
    child = BuildChild(paths.building, paths.journal)
    journal: JournalFile | None = None
    try:
        started = time.monotonic()
        journal = await _snapshot(collection)
        copied = time.monotonic()
        await child.start()
        await _built_unless_overflow(child, journal)
        optimized = time.monotonic()
        journaled = await _uninterrupted(_swap(collection, child, journal))
        swapped = time.monotonic()
    finally:
        await child.kill()
        collection.journal = None
        if journal is not None:
            await journal.discard()
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


async def _snapshot(collection: LiveCollection) -> JournalFile:
    """Step (a): a consistent copy of the live shard, and journaling from then on."""
    paths = collection.paths
    async with collection.write_lock:
        started = time.monotonic()
        await collection.flush()
        log.info("index build of %s: flushed the live shard in %.2f s", collection.name, time.monotonic() - started)
        if paths.building.exists():
            await asyncio.to_thread(shutil.rmtree, paths.building)
        await asyncio.to_thread(check_free_space, paths, collection.settings.disk_margin)
        await asyncio.to_thread(shutil.copytree, paths.shard, paths.building)
        journal = await JournalFile.create(paths.journal, collection.settings.journal_max_bytes)
        collection.journal = journal
        collection.build_started(await collection.run(EdgeShard.count, CountRequest(exact=True)))
        return journal


def check_free_space(paths: CollectionPaths, margin: float) -> None:
    """InsufficientDiskSpace unless the disk of `paths` has `margin` x the shard's size free."""
    shard_bytes = sum(f.stat().st_size for f in paths.shard.rglob("*") if f.is_file())
    free = shutil.disk_usage(paths.root).free
    if free < shard_bytes * margin:
        message = (
            f"not building the index of {paths.name}: {free / 2**20:.0f} MiB free on the disk of {paths.root}, "
            f"the build needs the shard's {shard_bytes / 2**20:.0f} MiB x {margin:g} (setting index_disk_margin)"
        )
        log.error(message)
        raise InsufficientDiskSpace(message)


async def _built_unless_overflow(child: "BuildChild", journal: JournalFile) -> None:
    """Wait for step (b); JournalOverflow as soon as the journal fails, without waiting for
    an optimize() that could only end in an abandoned swap."""
    built = asyncio.ensure_future(child.built())
    failed = asyncio.ensure_future(journal.failed.wait())
    try:
        await asyncio.wait({built, failed}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (built, failed):
            task.cancel()
        await asyncio.gather(built, failed, return_exceptions=True)
    if journal.failure is not None:
        raise JournalOverflow(journal.failure)
    built.result()


class BuildChild:
    """The child process that builds the index of a shard copy (step b) and replays the
    journal into it (step c)."""

    def __init__(self, shard_dir: Path, journal_path: Path) -> None:
        self._shard_dir = shard_dir
        self._journal_path = journal_path
        self._process: asyncio.subprocess.Process | None = None
        self._stderr_tail = b""
        self._stderr_reader: asyncio.Task | None = None

    async def start(self) -> None:
        """Start `python -m imagesearch.store.indexer SHARD_DIR JOURNAL`, without our secrets
        in its environment."""
        package_root = str(Path(imagesearch.__file__).resolve().parent.parent)
        env = scrubbed_environment()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "imagesearch.store.indexer",
            str(self._shard_dir),
            str(self._journal_path),
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

    @property
    def pid(self) -> int | None:
        """The child's process id once started."""
        return self._process.pid if self._process else None

    async def replay(self) -> None:
        """Tell the child the journal file is complete; wait for it to apply it, flush and exit."""
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(f"{REPLAY_COMMAND}\n".encode())
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


async def _swap(collection: LiveCollection, child: BuildChild, journal: JournalFile) -> int:
    """Step (c): bring the copy up to date and make it the live shard; returns journal size.

    Requests wait on the GIL during the new shard's load and the old one's close (each held
    by the engine), and on the `access` lock only for the change of reference; the three
    used to be one wait under the lock (close + renames + load: 1.8 s at 100k points)."""
    paths = collection.paths
    async with collection.write_lock:
        if collection.closed:
            raise IndexBuildError(f"collection {collection.name!r} was closed during its index build")
        collection.journal = None
        if journal.failure is not None:
            raise JournalOverflow(journal.failure)
        await journal.finish()
        await child.replay()
        built, old_dir = paths.building, paths.shard
        steps = [time.monotonic()]
        try:
            shard = await asyncio.to_thread(load_shard, built)
        except Exception as exc:  # noqa: BLE001 - the engine raises its own error types for a bad shard
            raise IndexBuildError(f"the indexed shard of {collection.name!r} did not load; the previous one serves on") from exc
        steps.append(time.monotonic())
        adopted, record_error = False, None
        try:
            await asyncio.to_thread(warm_page_cache, built)
            steps.append(time.monotonic())
            try:
                await asyncio.to_thread(make_live, paths, built)
            except OSError as exc:
                record_error = exc
            # Serve what a restart would load, whatever the record's write reached.
            adopted = paths.shard == built
            if adopted:
                async with collection.access.exclusive():
                    old, collection.shard = collection.shard, shard
            steps.append(time.monotonic())
        finally:
            if not adopted:
                await asyncio.to_thread(shard.close)
        if not adopted:
            raise IndexBuildError(f"the indexed shard of {collection.name!r} could not be recorded as live") from record_error
        if record_error is not None:
            log.error("index swap of %s: %s recorded as live, not synced to disk: %s", collection.name, built, record_error)
        # From here requests use the new shard; no write reached either since the replay.
        await asyncio.to_thread(old.close)
        steps.append(time.monotonic())
        await asyncio.to_thread(discard, paths, old_dir)
        log.info(
            "index swap of %s: load %.2f s, warm %.2f s, record + swap %.3f s (the lock: ~1 ms of it), "
            "close of the old shard %.2f s", collection.name, *(b - a for a, b in zip(steps, steps[1:])),
        )
    return journal.count


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


def build_and_replay(shard_dir: Path, journal_path: Path) -> dict[str, int]:
    """Child side: build the index of the shard at `shard_dir` (optimize() holds the GIL
    throughout), say so on stdout, wait for the parent's word that the journal file is
    complete, then replay it record by record."""
    # Segments built now keep int8-quantized spaces' float vectors memory-mapped, so the
    # serving process's load at the swap does not read them in while holding the GIL.
    shard = load_shard(shard_dir, with_cold_float_vectors(shard_dir))
    try:
        shard.optimize()
        print(BUILT_MARKER, flush=True)
        command = sys.stdin.readline().strip()
        if command != REPLAY_COMMAND:
            sys.exit(f"expected {REPLAY_COMMAND!r} on stdin, got {command[:40]!r}: build abandoned")
        replayed = replay(shard, read_journal(journal_path))
        shard.flush()
        info = shard.info()
        return {"points": info.points_count, "indexed": info.indexed_vectors_count, "replayed": replayed}
    finally:
        shard.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m imagesearch.store.indexer SHARD_DIR JOURNAL_FILE")
    # A build is background work: on a small machine it must yield the cores to serving.
    os.nice(10)
    print(json.dumps(build_and_replay(Path(sys.argv[1]), Path(sys.argv[2]))))

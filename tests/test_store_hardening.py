"""The embedded store against the resource and crash holes of issue 10: filter indexes
without bound, an in-memory journal without bound, failed builds retried at once without a
disk check, a second server deleting the first one's files, a swap that deleted the old
shard before the new one had loaded. Real qdrant-edge shards, real child processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qdrant_client import AsyncQdrantClient

from imagesearch.store import filters as f
from imagesearch.store.base import PointToStore
from imagesearch.store.datadir_lock import DataDirLocked
from imagesearch.store.edge import EdgeStore
from imagesearch.store.indexer import InsufficientDiskSpace, JournalOverflow
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.remote import RemoteQdrantStore
from imagesearch.store.shard_config import IndexSettings
from test_store_edge import MODEL_SET, NO_AUTO_BUILD, SPACE, points, unit_vectors

REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.filterwarnings("ignore:Local mode performs exact"),
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect"),
]


def keyed_points(n: int, keys: int) -> list[PointToStore]:
    vectors = unit_vectors(n, 40)
    return [
        PointToStore(id=f"p{i}", vectors={SPACE: v}, metadata={f"k{j}": (i + j) % 7 for j in range(keys)})
        for i, v in enumerate(vectors)
    ]


def caller_indexes(schema) -> set[str]:
    return {path for path in schema if path.startswith("metadata.")}


async def edge_schema(store: EdgeStore, name: str) -> set[str]:
    return set((await store._collection(name).run(lambda shard: shard.info())).payload_schema)


async def test_filter_indexes_are_capped_and_filters_still_work(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, IndexSettings(threshold=0, max_filter_indexes=2))
    try:
        await store.create_collection("c", MODEL_SET)
        await store.upsert("c", keyed_points(200, 6))
        for keys in ((0, 1, 2, 3), (4, 5)):
            flt = f.Filter(must=tuple(f.Match(f"metadata.k{j}", (3 + j) % 7) for j in keys))
            hits = await store.search("c", unit_vectors(1, 41)[0], 1000, flt=flt)
            want = {f"p{i}" for i in range(200) if all((i + j) % 7 == (3 + j) % 7 for j in keys)}
            assert want and {h.id for h in hits} == want  # unindexed keys still filter exactly
        assert len(caller_indexes(await edge_schema(store, "c"))) == 2
        # The server's own lookups are not held back by the cap.
        sha = f.Filter(must=(f.Match("fingerprint.sha256", "ab" * 32),))
        assert await store.search("c", unit_vectors(1, 42)[0], 5, flt=sha) == []
        assert "fingerprint.sha256" in await edge_schema(store, "c")
    finally:
        await store.close()


@pytest.mark.parametrize("kind", ["edge", "remote"])
async def test_default_cap_holds_against_a_64_key_filter(tmp_path: Path, kind: str) -> None:
    """The request of the issue: one search naming 64 keys no longer makes 64 indexes."""
    if kind == "edge":
        store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    else:
        store = RemoteQdrantStore(None, client=AsyncQdrantClient(location=":memory:"))
    try:
        await store.create_collection("c", MODEL_SET)
        await store.upsert("c", keyed_points(20, 1))
        flt = f.Filter(must_not=tuple(f.Match(f"metadata.x{j}", j) for j in range(64)))
        assert len(await store.search("c", unit_vectors(1, 43)[0], 100, flt=flt)) == 20
        if kind == "edge":
            made = caller_indexes(await edge_schema(store, "c"))
        else:  # qdrant-client's local mode keeps no indexes; the store's record of its calls
            made = caller_indexes(store._indexed["c"])
        assert len(made) == f.DEFAULT_MAX_FILTER_INDEXES
    finally:
        await store.close()


async def test_journal_lives_on_disk_during_a_build(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, NO_AUTO_BUILD)
    paths = CollectionPaths(tmp_path / "collections" / "j")
    try:
        await store.create_collection("j", MODEL_SET)
        await store.upsert("j", points(unit_vectors(3000, 44)))
        build = asyncio.create_task(store.build_index("j"))
        sizes = []
        extra = unit_vectors(200, 45)
        written = 0
        while not build.done() and written < len(extra):
            await store.upsert("j", [PointToStore(id=f"x{written}", vectors={SPACE: extra[written]})])
            written += 1
            if paths.journal.exists():
                sizes.append(paths.journal.stat().st_size)
            await asyncio.sleep(0.01)
        info = await build
        assert written > 0 and sizes and sizes[-1] > sizes[0], "no journal file grew during the build"
        assert not paths.journal.exists()
        assert info.count == 3000 + written
        assert len(await store.get("j", [f"x{i}" for i in range(written)])) == written
    finally:
        await store.close()


async def test_journal_overflow_abandons_the_build_and_loses_nothing(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, IndexSettings(threshold=0, full_scan_threshold_kb=1, journal_max_bytes=20_000))
    paths = CollectionPaths(tmp_path / "collections" / "o")
    try:
        await store.create_collection("o", MODEL_SET)
        await store.upsert("o", points(unit_vectors(3000, 46)))
        build = asyncio.create_task(store.build_index("o"))
        batch = 0
        while not build.done():
            await store.upsert("o", points(unit_vectors(5, 100 + batch), prefix=f"b{batch}-"))
            batch += 1
            await asyncio.sleep(0.01)
        with pytest.raises(JournalOverflow, match="index_journal_max_mb"):
            await build
        assert await store.count("o") == 3000 + 5 * batch
        assert not paths.building.exists() and not paths.journal.exists()
        info = await store.build_index("o")  # no writes meanwhile: fits
        assert info.indexed_count >= 3000 and info.count == 3000 + 5 * batch
    finally:
        await store.close()


async def test_failed_builds_back_off_and_need_free_disk(tmp_path: Path) -> None:
    """The disk check fails the build for real (no disk has a billion times the shard
    free); automatic retries then wait 1 s, 2 s (the cap), instead of one per insert."""
    settings = IndexSettings(threshold=100, disk_margin=1e9, retry_base_s=1.0, retry_max_s=2.0)
    store = EdgeStore(tmp_path, settings)
    paths = CollectionPaths(tmp_path / "collections" / "b")
    try:
        await store.create_collection("b", MODEL_SET)
        await store.upsert("b", points(unit_vectors(150, 47)))
        first = store._builds["b"]
        with pytest.raises(InsufficientDiskSpace, match="index_disk_margin"):
            await first
        failed_at = time.monotonic()
        await store.upsert("b", points(unit_vectors(5, 48), prefix="q"))
        assert "b" not in store._builds  # no immediate retry
        assert not paths.building.exists()  # nothing was copied
        await asyncio.sleep(max(0.0, failed_at + 1.2 - time.monotonic()))
        await store.upsert("b", points(unit_vectors(5, 49), prefix="r"))
        second = store._builds["b"]
        with pytest.raises(InsufficientDiskSpace):
            await second
        failed_at = time.monotonic()
        await asyncio.sleep(1.2)
        await store.upsert("b", points(unit_vectors(5, 50), prefix="s"))
        assert "b" not in store._builds  # the pause doubled to 2 s
        await asyncio.sleep(max(0.0, failed_at + 2.2 - time.monotonic()))
        await store.upsert("b", points(unit_vectors(5, 51), prefix="t"))
        assert "b" in store._builds
        with pytest.raises(InsufficientDiskSpace):
            await store.build_index("b")  # explicit builds are checked too
        assert await store.count("b") == 170
    finally:
        await store.close()


HOLDER = """
import asyncio, sys
from pathlib import Path
sys.path[:0] = [{tests!r}]
from imagesearch.store.edge import EdgeStore
from test_store_edge import MODEL_SET, NO_AUTO_BUILD, points, unit_vectors

async def main():
    store = EdgeStore(Path({data!r}), NO_AUTO_BUILD)
    await store.create_collection("c", MODEL_SET)
    await store.upsert("c", points(unit_vectors(50, 52)))
    print("ready", flush=True)
    sys.stdin.readline()
    await store.close()

asyncio.run(main())
"""


def start_holder(data_dir: Path) -> subprocess.Popen:
    """Another process with `data_dir` open in an EdgeStore (a collection "c" of 50 points)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER.format(tests=str(REPO / "tests"), data=str(data_dir))],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "server"), os.environ.get("PYTHONPATH", "")])},
    )
    return holder


async def test_server_start_stops_at_a_locked_data_dir(tmp_path: Path) -> None:
    """The server takes the lock before it starts Triton (whose files live in data_dir)."""
    from imagesearch.app import ImageSearchServer
    from imagesearch.config import Settings

    holder = start_holder(tmp_path)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DataDirLocked, match=f"pid {holder.pid}"):
            await ImageSearchServer(Settings(data_dir=tmp_path, metrics_port=0)).start()
        assert not (tmp_path / "triton").exists()
    finally:
        holder.communicate("stop\n", timeout=60)


async def test_second_process_is_refused_before_recovery(tmp_path: Path) -> None:
    holder = start_holder(tmp_path)
    try:
        assert holder.stdout.readline().strip() == "ready"
        # What start-up recovery deletes: a half-created collection, a build's shard copy.
        half = tmp_path / "collections" / "half"
        half.mkdir()
        building = CollectionPaths(tmp_path / "collections" / "c").building
        building.mkdir()
        with pytest.raises(DataDirLocked, match=f"pid {holder.pid}"):
            EdgeStore(tmp_path, NO_AUTO_BUILD)
        assert half.exists() and building.exists()
    finally:
        holder.communicate("stop\n", timeout=60)
    assert holder.returncode == 0
    store = EdgeStore(tmp_path, NO_AUTO_BUILD)  # the holder is gone: the lock is free
    try:
        assert await store.count("c") == 50
        assert not half.exists() and not building.exists()
    finally:
        await store.close()


async def _collection_with_two_shards(tmp_path: Path) -> tuple[CollectionPaths, Path]:
    """A closed collection whose shard has 60 points, and beside it a copy of the same
    shard from when it had 50 (the 'old' shard of a swap)."""
    store = EdgeStore(tmp_path, NO_AUTO_BUILD)
    await store.create_collection("s", MODEL_SET)
    await store.upsert("s", points(unit_vectors(50, 53)))
    await store.close()
    paths = CollectionPaths(tmp_path / "collections" / "s")
    fifty = tmp_path / "fifty"
    shutil.copytree(paths.shard, fifty)
    store = EdgeStore(tmp_path, NO_AUTO_BUILD)
    await store.upsert("s", points(unit_vectors(10, 54), prefix="new"))
    await store.close()
    return paths, fifty


async def _count_after_start(tmp_path: Path, paths: CollectionPaths) -> int:
    store = EdgeStore(tmp_path, NO_AUTO_BUILD)
    try:
        left = [p.name for p in (paths.old, paths.building, paths.trash, paths.journal) if p.exists()]
        assert left == [], f"start-up left {left}"
        return await store.count("s")
    finally:
        await store.close()


@pytest.mark.parametrize("step", ["copied", "old renamed", "new in place", "new does not load", "deleting old"])
async def test_start_after_a_crash_at_each_swap_step(tmp_path: Path, step: str) -> None:
    paths, fifty = await _collection_with_two_shards(tmp_path)
    if step == "copied":  # crash while building: the live shard stays
        shutil.copytree(fifty, paths.building)
        paths.journal.write_bytes(b"\0" * 100)
        expected = 60
    elif step == "old renamed":  # between the two renames: the old shard comes back
        paths.shard.rename(paths.old)
        fifty.rename(paths.building)
        expected = 60
    elif step == "new in place":  # both renames done, the new shard never loaded
        paths.shard.rename(paths.old)
        shutil.copytree(paths.old, paths.shard)
        shutil.rmtree(paths.old)
        fifty.rename(paths.old)
        expected = 60  # the new shard loads and wins; 'old' (50) is dropped
    elif step == "new does not load":  # the swapped-in shard is unusable: the old one serves
        shutil.rmtree(paths.shard)
        paths.shard.mkdir()
        shutil.copytree(fifty, paths.old)
        expected = 50
    else:  # crash while deleting the old shard (renamed to trash first)
        fifty.rename(paths.trash)
        expected = 60
    assert await _count_after_start(tmp_path, paths) == expected

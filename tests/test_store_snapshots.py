"""Snapshots, restore, aliases and originals of the embedded store, on the real engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from conftest import COREL
from imagesearch.store.base import (
    ALL_COLLECTIONS,
    AliasExists,
    AliasNotFound,
    CollectionExists,
    CollectionNotFound,
    ModelRecord,
    ModelSetRecord,
    OriginalsNotKept,
    PointToStore,
    SpaceRecord,
)
from imagesearch.store.edge import EdgeStore
from imagesearch.store.migrations import STAGING_DIR
from imagesearch.store.shard_config import IndexSettings
from imagesearch.store.snapshots import ModelSetNotServed, SnapshotCorrupt, SnapshotNotFound

DIM = 32
MODEL_SET = ModelSetRecord("test-set", (SpaceRecord("a", ModelRecord("m", "1", DIM)), SpaceRecord("b", ModelRecord("t", "1", 8))))
OTHER_VERSION = ModelSetRecord("test-set", (SpaceRecord("a", ModelRecord("m", "2", DIM)), SpaceRecord("b", ModelRecord("t", "1", 8))))
SETTINGS = IndexSettings(threshold=0)


def make_points(start: int, n: int, original: bool = False) -> list[PointToStore]:
    rng = np.random.default_rng(start)
    out = []
    for i in range(start, start + n):
        a, b = rng.standard_normal(DIM).astype(np.float32), rng.standard_normal(8).astype(np.float32)
        out.append(PointToStore(
            id=f"item-{i}", vectors={"a": a / np.linalg.norm(a), "b": b / np.linalg.norm(b)},
            metadata={"n": i, "tag": ["x", "y"][i % 2]}, fingerprint={"sha256": f"{i:064x}"}, nsfw_score=i / 10_000,
            original=(COREL / f"{i % 1000}.jpg").read_bytes() if original else None,
        ))
    return out


async def all_points(store: EdgeStore, name: str) -> dict:
    points, offset = {}, None
    while True:
        page, offset = await store.scroll(name, offset, 200)
        points.update({p.id: p for p in page})
        if offset is None:
            return points


@pytest.fixture
async def store(tmp_path: Path):
    store = EdgeStore(tmp_path / "src", SETTINGS)
    yield store
    await store.close()


async def test_snapshot_during_inserts_restores_every_acknowledged_item(store: EdgeStore, tmp_path: Path) -> None:
    await store.create_collection("photos", MODEL_SET)
    await store.upsert("photos", make_points(0, 1500))
    acknowledged: list[str] = [f"item-{i}" for i in range(1500)]
    stop = asyncio.Event()

    async def insert_stream() -> None:
        start = 1500
        while not stop.is_set():
            batch = make_points(start, 20)
            await store.upsert("photos", batch)
            acknowledged.extend(p.id for p in batch)
            start += 20
            await asyncio.sleep(0)

    inserter = asyncio.create_task(insert_stream())
    await asyncio.sleep(0.2)
    before_snapshot = list(acknowledged)
    seen = []
    info = await store.create_snapshot("photos", progress=lambda done, total: seen.append((done, total)))
    during = len(acknowledged) - len(before_snapshot)
    await asyncio.sleep(0.1)
    stop.set()
    await inserter
    print(f"\n{len(before_snapshot)} items before the snapshot, {during} acknowledged while it ran")
    assert during > 0, "no insert completed while the snapshot ran: writes were blocked"
    assert info.item_count >= len(before_snapshot) and seen[-1][0] == info.item_count

    fresh = EdgeStore(tmp_path / "fresh", SETTINGS)
    try:
        copied = fresh.snapshots.import_file(Path(info.location))
        restore_progress = []
        [restored] = await fresh.restore_snapshot(copied.collection, copied.name, served=[MODEL_SET],
                                                  progress=lambda done, total: restore_progress.append((done, total)))
        assert restore_progress[-1] == (info.item_count, info.item_count) and len(restore_progress) > 1
        assert restored.count == info.item_count
        source, target = await all_points(store, "photos"), await all_points(fresh, "photos")
        assert set(before_snapshot) <= set(target) <= set(source)
        for point_id in before_snapshot:
            for space in ("a", "b"):
                np.testing.assert_array_equal(target[point_id].vectors[space], source[point_id].vectors[space])
            assert target[point_id].metadata == source[point_id].metadata
            assert target[point_id].fingerprint == source[point_id].fingerprint
        got = {p.id: p for p in await fresh.get("photos", before_snapshot[:50])}
        assert [got[i].nsfw_score for i in before_snapshot[:50]] == [int(i.split("-")[1]) / 10_000 for i in before_snapshot[:50]]
        # Same results: the source's ranking restricted to what the snapshot holds.
        for query in make_points(900_000, 10):
            want = [h for h in await store.search("photos", query.vectors["a"], 200) if h.id in target][:10]
            got_hits = await fresh.search("photos", query.vectors["a"], 10)
            assert [(h.id, h.score) for h in got_hits] == [(h.id, h.score) for h in want]
    finally:
        await fresh.close()


async def test_corrupt_or_truncated_snapshot_is_refused_and_changes_nothing(store: EdgeStore, tmp_path: Path) -> None:
    await store.create_collection("photos", MODEL_SET)
    await store.upsert("photos", make_points(0, 300))
    info = await store.create_snapshot("photos")
    data = Path(info.location).read_bytes()
    fresh = EdgeStore(tmp_path / "fresh", SETTINGS)
    try:
        bad = {
            "flipped byte": data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:],
            "truncated": data[: len(data) - 3000],
            "half": data[: len(data) // 2],
            "empty": b"",
        }
        for label, content in bad.items():
            path = tmp_path / f"{label.replace(' ', '_')}.snapshot"
            path.write_bytes(content)
            with pytest.raises(SnapshotCorrupt) as caught:
                await fresh.restore_file(path, served=[MODEL_SET])
            print(f"\n{label}: {caught.value}")
            assert await fresh.list_collections() == []
            assert not (tmp_path / "fresh" / STAGING_DIR).exists() or not any((tmp_path / "fresh" / STAGING_DIR).iterdir())
        # The intact file restores.
        good = tmp_path / "good.snapshot"
        good.write_bytes(data)
        [restored] = await fresh.restore_file(good, served=[MODEL_SET])
        assert restored.count == 300
    finally:
        await fresh.close()


async def test_restore_refuses_unserved_model_set_and_existing_name(store: EdgeStore) -> None:
    await store.create_collection("photos", MODEL_SET)
    await store.upsert("photos", make_points(0, 10))
    info = await store.create_snapshot("photos")
    with pytest.raises(ModelSetNotServed) as caught:
        await store.restore_snapshot("photos", info.name, served=[OTHER_VERSION], target="copy")
    assert "test-set" in str(caught.value) and "v1" in str(caught.value)
    with pytest.raises(CollectionExists):
        await store.restore_snapshot("photos", info.name, served=[MODEL_SET])
    assert [c.name for c in await store.list_collections()] == ["photos"]
    [copy] = await store.restore_snapshot("photos", info.name, served=[MODEL_SET], target="copy")
    assert (copy.name, copy.count) == ("copy", 10)


async def test_snapshot_of_all_collections_list_and_delete(store: EdgeStore, tmp_path: Path) -> None:
    for name, n in (("one", 5), ("two", 7)):
        await store.create_collection(name, MODEL_SET)
        await store.upsert(name, make_points(0, n))
    everything = await store.create_snapshot(None)
    single = await store.create_snapshot("one")
    assert everything.collection == ALL_COLLECTIONS and everything.item_count == 12
    listed = await store.list_snapshots()
    assert {(s.collection, s.name) for s in listed} == {(ALL_COLLECTIONS, everything.name), ("one", single.name)}
    assert [s.name for s in await store.list_snapshots("one")] == [single.name]
    fresh = EdgeStore(tmp_path / "fresh", SETTINGS)
    try:
        restored = await fresh.restore_file(Path(everything.location), served=[MODEL_SET])
        assert {(c.name, c.count) for c in restored} == {("one", 5), ("two", 7)}
    finally:
        await fresh.close()
    await store.delete_snapshot("one", single.name)
    with pytest.raises(SnapshotNotFound):
        await store.delete_snapshot("one", single.name)


async def test_aliases_resolve_switch_and_persist(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, SETTINGS)
    try:
        await store.create_collection("v1", MODEL_SET)
        await store.create_collection("v2", MODEL_SET)
        await store.upsert("v1", make_points(0, 3))
        await store.upsert("v2", make_points(100, 4))
        await store.create_alias("live", "v1")
        assert await store.resolve("live") == "v1" and await store.count("live") == 3
        await store.upsert("live", make_points(3, 1))  # inserts accept an alias
        assert await store.count("v1") == 4
        query = make_points(3, 1)[0].vectors["a"]
        assert (await store.search("live", query, 1))[0].id == "item-3"
        with pytest.raises(AliasExists):
            await store.create_alias("live", "v2")
        with pytest.raises(AliasExists):
            await store.create_alias("v2", "v1")  # a collection's name
        with pytest.raises(CollectionExists):
            await store.create_collection("live", MODEL_SET)
        await store.switch_alias("live", "v2")
        assert await store.count("live") == 4
        with pytest.raises(CollectionNotFound):
            await store.switch_alias("live", "missing")
        with pytest.raises(CollectionNotFound):
            await store.delete_collection("live")  # an alias, not a collection
    finally:
        await store.close()
    store = EdgeStore(tmp_path, SETTINGS)  # reopened: aliases persist
    try:
        assert [(a.name, a.collection) for a in await store.list_aliases()] == [("live", "v2")]
        await store.create_alias("old", "v1")
        await store.delete_collection("v1")  # takes its aliases along
        assert [a.name for a in await store.list_aliases()] == ["live"]
        await store.delete_alias("live")
        with pytest.raises(AliasNotFound):
            await store.delete_alias("live")
        with pytest.raises(CollectionNotFound):
            await store.count("live")
    finally:
        await store.close()


async def test_originals_kept_deleted_snapshotted_and_restored(store: EdgeStore, tmp_path: Path) -> None:
    await store.create_collection("plain", MODEL_SET)
    await store.upsert("plain", make_points(0, 2, original=True))
    with pytest.raises(OriginalsNotKept):
        await store.get_original("plain", "item-0")
    await store.create_collection("kept", MODEL_SET, keep_originals=True)
    await store.upsert("kept", make_points(0, 20, original=True))
    assert await store.get_original("kept", "item-7") == (COREL / "7.jpg").read_bytes()
    usage = await store.originals_usage("kept")
    assert usage.count == 20 and usage.bytes == sum((COREL / f"{i}.jpg").stat().st_size for i in range(20))
    assert await store.delete("kept", ["item-7", "nope"]) == 1
    assert await store.get_original("kept", "item-7") is None
    info = await store.create_snapshot("kept")
    fresh = EdgeStore(tmp_path / "fresh", SETTINGS)
    try:
        [restored] = await fresh.restore_file(Path(info.location), served=[MODEL_SET])
        assert restored.count == 19 and await fresh.keeps_originals("kept")
        assert await fresh.get_original("kept", "item-8") == (COREL / "8.jpg").read_bytes()
        assert (await fresh.originals_usage("kept")).count == 19
    finally:
        await fresh.close()
    await store.delete_collection("kept")
    assert not (tmp_path / "src" / "collections" / "kept").exists()


async def test_missing_features_of_new_items(store: EdgeStore) -> None:
    await store.create_collection("f", MODEL_SET)
    full = make_points(0, 1)[0]
    bare = PointToStore(id="bare", vectors=full.vectors)
    ocr = PointToStore(id="ocr", vectors=full.vectors, features=frozenset({"ocr"}), nsfw_score=0.5)
    await store.upsert("f", [full, bare, ocr])
    got = {p.id: p.missing_features for p in await store.get("f", ["item-0", "bare", "ocr"])}
    assert got == {"item-0": ("ocr", "faces"), "bare": ("fingerprint", "nsfw", "ocr", "faces"),
                   "ocr": ("fingerprint", "faces")}
    with pytest.raises(ValueError):
        await store.upsert("f", [PointToStore(id="x", vectors=full.vectors, features=frozenset({"bogus"}))])


RESTORE_CHILD = (
    "import asyncio, sys; from pathlib import Path; from imagesearch.store.edge import EdgeStore\n"
    "async def main():\n"
    "    store = EdgeStore(Path(sys.argv[1]))\n"
    "    await store.restore_file(Path(sys.argv[2]), None)\n"
    "asyncio.run(main())\n"
)


async def test_kill_9_during_restore_leaves_no_collection(store: EdgeStore, tmp_path: Path) -> None:
    """A real restore in a child process, SIGKILLed once it is writing the staged shard: the
    next start removes the leftovers and has no half-restored collection."""
    import os
    import signal
    import subprocess
    import sys
    import time

    await store.create_collection("big", MODEL_SET)
    for start in range(0, 20_000, 2_000):
        await store.upsert("big", make_points(start, 2_000))
    info = await store.create_snapshot("big")
    target = tmp_path / "target"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "server"),
                                                        os.environ.get("PYTHONPATH", "")])}
    child = subprocess.Popen([sys.executable, "-c", RESTORE_CHILD, str(target), info.location], env=env)
    staged = target / STAGING_DIR / "big" / "shard"
    deadline = time.monotonic() + 120
    while not staged.exists() and child.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL, "the restore finished before it could be killed"
    assert not (target / "collections" / "big").exists()
    reopened = EdgeStore(target, SETTINGS)
    try:
        assert await reopened.list_collections() == []
        assert not (target / STAGING_DIR).exists()
        [restored] = await reopened.restore_file(Path(info.location), [MODEL_SET])
        assert restored.count == 20_000
    finally:
        await reopened.close()

"""EdgeStore against the real qdrant-edge engine, and its background index build."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from imagesearch.store.points import MAX_SEARCH_LIMIT

from imagesearch.store.base import (
    CollectionExists,
    CollectionNotFound,
    InvalidCollectionName,
    ModelRecord,
    ModelSetRecord,
    PointToStore,
    SpaceRecord,
)
from imagesearch.store.edge import EdgeStore
from imagesearch.store.indexer import IndexBuildError
from imagesearch.store.layout import CollectionPaths, recover
from imagesearch.store.shard_config import IndexSettings

DIM = 64
MODEL = ModelRecord(name="test-model", version="1", dimension=DIM)
SPACE = "v"
MODEL_SET = ModelSetRecord(name="test-set", spaces=(SpaceRecord(SPACE, MODEL),))
# Tiny full-scan threshold so that the small test segments really are searched by HNSW.
NO_AUTO_BUILD = IndexSettings(threshold=0, full_scan_threshold_kb=1)


def unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def points(vectors: np.ndarray, prefix: str = "p") -> list[PointToStore]:
    return [PointToStore(id=f"{prefix}{i}", vectors={SPACE: v}, metadata={"n": i}) for i, v in enumerate(vectors)]


def exact_top(matrix: np.ndarray, ids: list[str], query: np.ndarray, k: int) -> list[str]:
    scores = matrix @ query
    return [ids[i] for i in np.argsort(-scores, kind="stable")[:k]]


@pytest.fixture
async def store(tmp_path: Path):
    store = EdgeStore(tmp_path, NO_AUTO_BUILD)
    yield store
    await store.close()


async def test_collection_lifecycle(store: EdgeStore) -> None:
    info = await store.create_collection("photos", MODEL_SET)
    assert (info.name, info.model, info.count, info.indexed_count) == ("photos", MODEL, 0, 0)
    assert abs(info.created_at - time.time()) < 60
    await store.create_collection("other-1", MODEL_SET)
    with pytest.raises(CollectionExists):
        await store.create_collection("photos", MODEL_SET)
    assert [c.name for c in await store.list_collections()] == ["other-1", "photos"]
    assert (await store.get_collection("photos")).model == MODEL
    await store.delete_collection("photos")
    with pytest.raises(CollectionNotFound):
        await store.get_collection("photos")
    with pytest.raises(CollectionNotFound):
        await store.delete_collection("photos")
    with pytest.raises(CollectionNotFound):
        await store.search("photos", unit_vectors(1, 0)[0], 5)
    assert [c.name for c in await store.list_collections()] == ["other-1"]
    assert not (store._root / "photos").exists()
    # The name is free again.
    assert (await store.create_collection("photos", MODEL_SET)).count == 0


@pytest.mark.parametrize("name", ["a/b", "..", "has space", "x" * 300, "", "-lead"])
async def test_invalid_names(store: EdgeStore, name: str) -> None:
    with pytest.raises(InvalidCollectionName):
        await store.create_collection(name, MODEL_SET)
    with pytest.raises(InvalidCollectionName):
        await store.get_collection(name)


async def test_points_roundtrip(store: EdgeStore) -> None:
    await store.create_collection("c", MODEL_SET)
    vectors = unit_vectors(3, 1)
    weird_id = "s3://bucket/κόσμε photo #1?.jpg"
    await store.upsert("c", [
        PointToStore(id="a", vectors={SPACE: vectors[0]}, metadata={"id": "user-id-key", "metadata": 1}),
        PointToStore(id=weird_id, vectors={SPACE: vectors[1]}, metadata={"tags": ["x", "y"]}),
    ])
    assert await store.count("c") == 2
    got = await store.get("c", [weird_id, "missing", "a"], with_vectors=True)
    assert [p.id for p in got] == [weird_id, "a"]
    # User metadata may use any key, including the store's own internal ones.
    assert got[1].metadata == {"id": "user-id-key", "metadata": 1}
    np.testing.assert_allclose(got[0].vectors[SPACE], vectors[1], atol=1e-6)
    assert (await store.get("c", ["a"]))[0].vectors is None

    # Upsert of the same id replaces vector and metadata.
    await store.upsert("c", [PointToStore(id="a", vectors={SPACE: vectors[2]}, metadata={"v": 2})])
    assert await store.count("c") == 2
    hit = (await store.search("c", vectors[2], 1))[0]
    assert (hit.id, hit.metadata) == ("a", {"v": 2})
    assert hit.score == pytest.approx(1.0, abs=1e-5)

    assert await store.delete("c", ["a", "a", "missing"]) == 1
    assert await store.delete("c", ["a"]) == 0
    assert await store.get("c", ["a"]) == []
    assert await store.count("c") == 1

    with pytest.raises(ValueError):
        await store.upsert("c", [PointToStore(id="x" * 257, vectors={SPACE: vectors[0]})])
    with pytest.raises(ValueError):
        await store.upsert("c", [PointToStore(id="b", vectors={SPACE: np.ones(DIM + 1)})])
    with pytest.raises(ValueError):  # top_k's limit plus the query item itself
        await store.search("c", vectors[0], MAX_SEARCH_LIMIT + 1)


async def test_search_matches_exact_ranking(store: EdgeStore) -> None:
    await store.create_collection("c", MODEL_SET)
    vectors = unit_vectors(2000, 2)
    ids = [f"p{i}" for i in range(len(vectors))]
    for start in range(0, len(vectors), 500):
        await store.upsert("c", [
            PointToStore(id=ids[i], vectors={SPACE: vectors[i]}, metadata={"n": i}) for i in range(start, start + 500)
        ])
    for query in unit_vectors(10, 3):
        hits = await store.search("c", query, 20)
        assert [h.id for h in hits] == exact_top(vectors, ids, query, 20)
        expected = np.sort(vectors @ query)[::-1][:20]
        np.testing.assert_allclose([h.score for h in hits], np.clip(expected, 0, 1), atol=1e-5)
        assert hits[0].metadata == {"n": int(hits[0].id[1:])}

    # min_score is a threshold on the (clamped) score.
    query = vectors[7]
    hits = await store.search("c", query, 1000, min_score=0.3)
    scores = vectors @ query
    assert len(hits) == int(np.sum(scores >= 0.3))
    assert all(h.score >= 0.3 for h in hits)
    # With min_score 0, scores below zero come back clamped to 0.
    hits = await store.search("c", -query, 1000)
    assert len(hits) == 1000 and hits[-1].score == 0.0 and all(0 <= h.score <= 1 for h in hits)


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    vectors = unit_vectors(300, 4)
    query = unit_vectors(1, 5)[0]
    first = EdgeStore(tmp_path, NO_AUTO_BUILD)
    created = await first.create_collection("keep", MODEL_SET)
    await first.upsert("keep", points(vectors))
    await first.delete("keep", ["p0"])
    before = await first.search("keep", query, 10)
    await first.close()

    second = EdgeStore(tmp_path, NO_AUTO_BUILD)
    try:
        info = await second.get_collection("keep")
        assert (info.count, info.model, info.created_at) == (299, MODEL, created.created_at)
        assert await second.search("keep", query, 10) == before
        assert await second.get("keep", ["p0"]) == []
        # Writes after a reopen (new WAL operation numbers) still replace old points.
        await second.upsert("keep", [PointToStore(id="p1", vectors={SPACE: vectors[1]}, metadata={"new": True})])
        assert (await second.get("keep", ["p1"]))[0].metadata == {"new": True}
    finally:
        await second.close()


async def test_startup_recovers_interrupted_swap(tmp_path: Path) -> None:
    """A crash between the two renames of a swap leaves shard.old: startup restores it."""
    first = EdgeStore(tmp_path, NO_AUTO_BUILD)
    await first.create_collection("c", MODEL_SET)
    await first.upsert("c", points(unit_vectors(50, 6)))
    await first.close()
    paths = CollectionPaths(tmp_path / "collections" / "c")
    paths.shard.rename(paths.old)
    paths.building.mkdir()  # a half-built copy
    paths.legacy_building.mkdir()  # one of an earlier version
    (tmp_path / "collections" / "half-created").mkdir()  # no collection.json
    second = EdgeStore(tmp_path, NO_AUTO_BUILD)
    try:
        assert await second.count("c") == 50
        assert not paths.old.exists() and not paths.building.exists() and not paths.legacy_building.exists()
        assert [c.name for c in await second.list_collections()] == ["c"]
    finally:
        await second.close()
    recover(paths)  # idempotent on a clean directory


async def test_index_build_during_traffic(tmp_path: Path) -> None:
    """Build in a child process while queries, upserts and deletes keep going."""
    store = EdgeStore(tmp_path, IndexSettings(threshold=0, full_scan_threshold_kb=1))
    try:
        await store.create_collection("big", MODEL_SET)
        base = unit_vectors(5000, 7)
        for start in range(0, 5000, 1000):
            await store.upsert("big", [
                PointToStore(id=f"p{i}", vectors={SPACE: base[i]}, metadata={"n": i}) for i in range(start, start + 1000)
            ])
        extra = unit_vectors(300, 8)
        queries = unit_vectors(20, 9)
        build = asyncio.create_task(store.build_index("big"))
        served = 0
        written = 0
        while not build.done():
            await store.search("big", queries[served % len(queries)], 10)
            served += 1
            if written < len(extra):
                await store.upsert("big", [PointToStore(id=f"x{written}", vectors={SPACE: extra[written]})])
                await store.delete("big", [f"p{written}"])
                written += 1
            await asyncio.sleep(0.005)
        info = await build
        assert served > 0 and written > 0, "the build finished before any traffic ran"
        for i in range(written, len(extra)):  # the rest, after the swap
            await store.upsert("big", [PointToStore(id=f"x{i}", vectors={SPACE: extra[i]})])
            await store.delete("big", [f"p{i}"])

        assert info.indexed_count > 4000
        assert await store.count("big") == 5000
        assert len(await store.get("big", [f"x{i}" for i in range(len(extra))])) == len(extra)
        assert await store.get("big", [f"p{i}" for i in range(len(extra))]) == []

        ids = [f"p{i}" for i in range(len(extra), 5000)] + [f"x{i}" for i in range(len(extra))]
        matrix = np.concatenate([base[len(extra):], extra])
        recall = []
        for query in unit_vectors(50, 10):
            hits = [h.id for h in await store.search("big", query, 10)]
            recall.append(len(set(hits) & set(exact_top(matrix, ids, query, 10))) / 10)
        assert np.mean(recall) >= 0.9
    finally:
        await store.close()

    reopened = EdgeStore(tmp_path, NO_AUTO_BUILD)
    try:
        info = await reopened.get_collection("big")
        assert info.count == 5000 and info.indexed_count > 4000
    finally:
        await reopened.close()


async def test_automatic_build_and_close(tmp_path: Path) -> None:
    """Crossing the threshold starts a build that the store owns; close() stops it cleanly."""
    store = EdgeStore(tmp_path, IndexSettings(threshold=500, full_scan_threshold_kb=1))
    await store.create_collection("auto", MODEL_SET)
    await store.upsert("auto", points(unit_vectors(600, 11)))
    assert "auto" in store._builds
    info = await store.build_index("auto")  # joins the running build
    assert info.indexed_count == 600
    await store.upsert("auto", points(unit_vectors(600, 12), prefix="q"))
    assert "auto" in store._builds
    await store.close()  # cancels the second build mid-way
    reopened = EdgeStore(tmp_path, NO_AUTO_BUILD)
    try:
        assert await reopened.count("auto") == 1200
        paths = CollectionPaths(tmp_path / "collections" / "auto")
        assert not paths.building.exists()
    finally:
        await reopened.close()


def _index_build_children() -> list[int]:
    """Live `python -m imagesearch.store.indexer` children of this process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                command = cmdline.read()
        except OSError:
            continue
        if parent == os.getpid() and b"imagesearch.store.indexer" in command:
            found.append(int(entry))
    return found


async def test_killed_build_child_fails_the_build_and_loses_nothing(tmp_path: Path) -> None:
    """A build whose child dies (killed for real, as the OOM killer would) raises
    IndexBuildError; the live shard, writes made during the build included, is untouched,
    and the next build works."""
    store = EdgeStore(tmp_path, NO_AUTO_BUILD)
    try:
        await store.create_collection("k", MODEL_SET)
        await store.upsert("k", points(unit_vectors(3000, 31)))
        build = asyncio.create_task(store.build_index("k"))
        while not (children := _index_build_children()):
            assert not build.done(), "the build ended before its child could be seen"
            await asyncio.sleep(0.01)
        await store.upsert("k", points(unit_vectors(5, 32), prefix="during"))
        os.kill(children[0], signal.SIGKILL)
        with pytest.raises(IndexBuildError, match="exited with"):
            await build
        assert await store.count("k") == 3005
        assert not CollectionPaths(tmp_path / "collections" / "k").building.exists()
        info = await store.build_index("k")
        assert info.count == 3005 and info.indexed_count >= 3000
        assert [p.id for p in await store.get("k", ["during4"])] == ["during4"]
    finally:
        await store.close()


async def test_int8_quantized_collection_finds_true_neighbours(tmp_path: Path) -> None:
    """With int8 quantization the index walk uses quantized vectors and the candidates are
    rescored with the float ones: after a build the top hits still match exact search."""
    settings = IndexSettings(threshold=0, full_scan_threshold_kb=1, quantization="int8")
    store = EdgeStore(tmp_path, settings)
    try:
        await store.create_collection("q", MODEL_SET)
        base = unit_vectors(3000, 21)
        await store.upsert("q", points(base))
        await store.build_index("q")
        assert (await store.get_collection("q")).indexed_count == 3000
        ids = [f"p{i}" for i in range(len(base))]
        queries = unit_vectors(20, 22)
        found = [[h.id for h in await store.search("q", query, 10)] for query in queries]
        hits = sum(len(set(f) & set(exact_top(base, ids, q, 10))) for f, q in zip(found, queries))
        assert hits / (10 * len(queries)) >= 0.9
        top = await store.search("q", base[5], 1)
        assert top[0].id == "p5" and top[0].score == pytest.approx(1.0, abs=1e-3)  # rescored: exact scores
    finally:
        await store.close()
    with pytest.raises(ValueError, match="quantization"):
        IndexSettings(quantization="int4")

"""The embedded store's index builds as a serving process needs them: the swap loads no
float vectors of quantized spaces (memory-mapped instead), and replaced or deleted points
do not pile up in memory when no new points ever reach the build threshold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from qdrant_edge import Memory

from imagesearch.store import shard_config
from imagesearch.store.edge import EdgeStore
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.shard_config import IndexSettings
from test_store_edge import MODEL_SET, points, unit_vectors


def storage_types(tmp_path: Path, name: str) -> list[str]:
    """The float vector storage and int8 copy placement of each indexed (HNSW) segment of
    a collection's live shard."""
    found = []
    for segment in (CollectionPaths(tmp_path / "collections" / name).shard / "segments").iterdir():
        config = json.loads((segment / "segment.json").read_text())["config"]["vector_data"]
        found += [
            f"{v['storage_type']}/{v['quantization_config']['scalar']['memory']}"
            for v in config.values() if v["index"]["type"] == "hnsw"
        ]
    return found


async def test_quantized_float_vectors_are_memory_mapped_after_a_build(tmp_path: Path, monkeypatch) -> None:
    settings = IndexSettings(threshold=0, full_scan_threshold_kb=1, quantization="int8")
    # A collection created before these placements existed (both read in at load)...
    with monkeypatch.context() as patch:
        patch.setattr(shard_config, "float_vector_memory", lambda quantized: None)
        patch.setattr(shard_config, "QUANTIZED_MEMORY", Memory.Pinned)
        store = EdgeStore(tmp_path, settings)
        await store.create_collection("old", MODEL_SET)
    await store.create_collection("new", MODEL_SET)
    try:
        for name in ("old", "new"):
            await store.upsert(name, points(unit_vectors(300, 5)))
            await store.build_index(name)
            # ...moves to it at its next build, like one created now.
            assert storage_types(tmp_path, name) == ["Mmap/cold"], name
            top = await store.search(name, unit_vectors(300, 5)[7], 1)
            assert top[0].id == "p7" and top[0].score == pytest.approx(1.0, abs=1e-3)  # rescored from the mmap
    finally:
        await store.close()


async def test_replacing_the_same_items_starts_a_build_that_frees_their_old_copies(tmp_path: Path) -> None:
    settings = IndexSettings(threshold=10_000, full_scan_threshold_kb=1, dead_points_min=40)
    store = EdgeStore(tmp_path, settings)
    try:
        await store.create_collection("churn", MODEL_SET)
        await store.upsert("churn", points(unit_vectors(20, 1)))
        collection = store._collection("churn")
        for round_ in range(2, 4):  # 40 replacements: not yet past the limit
            await store.upsert("churn", points(unit_vectors(20, round_)))
        assert (await collection.build_need())[1] == 40 and "churn" not in store._builds
        await store.delete("churn", ["p0"])  # one more dead copy: past it
        assert "churn" in store._builds
        info = await store.build_index("churn")  # joins it
        assert info.count == 19 and info.indexed_count == 19  # the old copies are gone from the segments
        assert (await collection.build_need())[1] == 0
        hit = (await store.search("churn", unit_vectors(20, 3)[4], 1))[0]
        assert hit.id == "p4" and hit.score == pytest.approx(1.0, abs=1e-4)  # the latest copy
    finally:
        await store.close()


async def test_a_swap_serves_the_built_copy_where_it_was_built_and_a_restart_finds_it(tmp_path: Path) -> None:
    settings = IndexSettings(threshold=0, full_scan_threshold_kb=1)
    paths = CollectionPaths(tmp_path / "collections" / "c")
    store = EdgeStore(tmp_path, settings)
    try:
        await store.create_collection("c", MODEL_SET)
        await store.upsert("c", points(unit_vectors(200, 11)))
        for seed, live in ((12, "shard.alt"), (13, "shard")):  # each build serves the other directory
            await store.build_index("c")
            assert paths.shard.name == live and not paths.building.exists()
            await store.upsert("c", points(unit_vectors(20, seed), prefix=live))  # writes reach the new shard
        assert (await store.search("c", unit_vectors(20, 13)[3], 1))[0].id == "shard3"
    finally:
        await store.close()
    # A crash after the swap, before the old directory was deleted: the live one serves.
    shutil.copytree(paths.shard, paths.building)
    store = EdgeStore(tmp_path, settings)
    try:
        assert await store.count("c") == 240 and not paths.building.exists()
        assert [p.id for p in await store.get("c", ["shard.alt0", "shard19"])] == ["shard.alt0", "shard19"]
    finally:
        await store.close()


async def test_the_live_shard_is_flushed_every_so_many_written_points(tmp_path: Path, monkeypatch) -> None:
    from imagesearch.store import collection as live

    monkeypatch.setattr(live, "FLUSH_EVERY_POINTS", 10)
    store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    try:
        await store.create_collection("f", MODEL_SET)
        collection = store._collection("f")
        flushes = []
        real_flush = collection.flush

        async def counted_flush() -> None:
            flushes.append(collection.written_since_flush)
            await real_flush()

        monkeypatch.setattr(collection, "flush", counted_flush)
        for round_ in range(5):  # 4 points a write: a flush once 10 are written
            await store.upsert("f", points(unit_vectors(4, round_), prefix=f"r{round_}-"))
        await store.delete("f", ["r0-0", "r0-1"])
        assert flushes == [12, 10] and collection.written_since_flush == 0  # deletes count too
    finally:
        await store.close()


async def test_a_swap_whose_record_fails_keeps_serving_the_old_shard(tmp_path: Path, monkeypatch) -> None:
    from imagesearch.store import indexer
    from imagesearch.store.indexer import IndexBuildError

    def disk_full(paths: CollectionPaths, directory: Path) -> None:
        raise OSError(28, "No space left on device")

    store = EdgeStore(tmp_path, IndexSettings(threshold=0, full_scan_threshold_kb=1))
    paths = CollectionPaths(tmp_path / "collections" / "r")
    try:
        await store.create_collection("r", MODEL_SET)
        await store.upsert("r", points(unit_vectors(100, 21)))
        monkeypatch.setattr(indexer, "make_live", disk_full)
        with pytest.raises(IndexBuildError, match="could not be recorded"):
            await store.build_index("r")
        assert paths.shard.name == "shard" and not paths.building.exists()
        await store.upsert("r", points(unit_vectors(1, 22), prefix="after"))  # the old shard takes writes
        assert await store.count("r") == 101 and (await store.get_collection("r")).indexed_count == 0
    finally:
        await store.close()

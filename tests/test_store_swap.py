"""The embedded store's index builds as a serving process needs them: the swap loads no
float vectors of quantized spaces (memory-mapped instead), and replaced or deleted points
do not pile up in memory when no new points ever reach the build threshold."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagesearch.store import shard_config
from imagesearch.store.edge import EdgeStore
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.shard_config import IndexSettings
from test_store_edge import MODEL_SET, points, unit_vectors


def storage_types(tmp_path: Path, name: str) -> list[str]:
    """The float vector storage of each indexed (HNSW) segment of a collection's live shard."""
    found = []
    for segment in (CollectionPaths(tmp_path / "collections" / name).shard / "segments").iterdir():
        config = json.loads((segment / "segment.json").read_text())["config"]["vector_data"]
        found += [v["storage_type"] for v in config.values() if v["index"]["type"] == "hnsw"]
    return found


async def test_quantized_float_vectors_are_memory_mapped_after_a_build(tmp_path: Path, monkeypatch) -> None:
    settings = IndexSettings(threshold=0, full_scan_threshold_kb=1, quantization="int8")
    # A collection created before this placement existed (the engine's default: read in at load)...
    with monkeypatch.context() as patch:
        patch.setattr(shard_config, "float_vector_memory", lambda quantized: None)
        store = EdgeStore(tmp_path, settings)
        await store.create_collection("old", MODEL_SET)
    await store.create_collection("new", MODEL_SET)
    try:
        for name in ("old", "new"):
            await store.upsert(name, points(unit_vectors(300, 5)))
            await store.build_index(name)
            # ...moves to it at its next build, like one created now.
            assert storage_types(tmp_path, name) == ["Mmap"], name
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

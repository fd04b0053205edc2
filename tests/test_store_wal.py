"""The embedded store's write-ahead log stays small: 4 MiB segments in new and existing
shards, and flushes often enough for the engine to truncate it (shard_files.py: every
byte of the WAL stays mapped in the serving process)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from imagesearch.dedup.fingerprint import Fingerprint
from imagesearch.store.edge import EdgeStore
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.shard_config import EDGE_CONFIG_FILE, IndexSettings
from imagesearch.store.shard_files import WAL_DIR, WAL_OPTIONS
from test_store_edge import MODEL_SET, points, unit_vectors

SEGMENT = WAL_OPTIONS["segment_capacity"]


def wal_files(tmp_path: Path, name: str) -> dict[str, tuple[int, int]]:
    """Each WAL file of the live shard: (capacity, bytes allocated on disk). The engine
    creates a segment as `tmp-open-N`, then renames it: a file listed
    may be gone by the time it is looked at (seen once in 9 runs), and is passed over."""
    wal = CollectionPaths(tmp_path / "collections" / name).shard / WAL_DIR
    files = {}
    for path in wal.iterdir():
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        files[path.name] = (stat.st_size, stat.st_blocks * 512)
    return files


def persisted(tmp_path: Path, name: str) -> dict:
    return json.loads((CollectionPaths(tmp_path / "collections" / name).shard / EDGE_CONFIG_FILE).read_text())


def big_points(round_: int, ids: int = 10, payload_bytes: int = 200_000) -> list:
    thumb = chr(ord("a") + round_ % 26) * payload_bytes
    return [replace(point, fingerprint={"thumb": thumb}) for point in points(unit_vectors(ids, round_))]


async def test_shards_new_and_old_get_small_wal_segments(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    try:
        await store.create_collection("c", MODEL_SET)
        assert persisted(tmp_path, "c")["wal_options"] == WAL_OPTIONS
        assert all(capacity <= SEGMENT for capacity, _ in wal_files(tmp_path, "c").values())
        await store.upsert("c", points(unit_vectors(5, 1)))
    finally:
        await store.close()
    # A shard of an earlier version (the engine's 32 MiB default) gets them at its next load.
    config_file = CollectionPaths(tmp_path / "collections" / "c").shard / EDGE_CONFIG_FILE
    config = json.loads(config_file.read_text())
    del config["wal_options"]
    config_file.write_text(json.dumps(config))
    store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    try:
        assert persisted(tmp_path, "c")["wal_options"] == WAL_OPTIONS
        assert await store.count("c") == 5
    finally:
        await store.close()


async def test_the_wal_stays_bounded_while_large_points_are_replaced(tmp_path: Path) -> None:
    """100 writes of 10 points carrying 200 KB payloads (~200 MB in all, the same 10 ids):
    without flushes by bytes the WAL kept all of it until 1,000 points were written."""
    store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    try:
        await store.create_collection("c", MODEL_SET)
        peak = 0
        for round_ in range(100):
            await store.upsert("c", big_points(round_))
            peak = max(peak, sum(allocated for _, allocated in wal_files(tmp_path, "c").values()))
        # Unflushed (< 8 MiB + one 2 MB write), the retained closed segment, the open one.
        assert peak <= 5 * SEGMENT, peak / 2**20  # measured 15.3 MiB; 189 MiB without them
        assert await store.count("c") == 10
    finally:
        await store.close()


def test_the_wal_byte_estimate_follows_the_payload_json() -> None:
    """collection.written counts the thumbnail by its length instead of dumping it: within
    2 % of 4 bytes a float plus the JSON of a real payload (a Corel-sized fingerprint)."""
    from imagesearch.store.collection import written
    from imagesearch.store.journal import StoredPointData, Upsert

    rng = np.random.default_rng(3)
    fingerprint = Fingerprint(sha256="ab" * 32, phash=12345, thumb=rng.integers(0, 256, (128, 128), np.uint8))
    body = {"id": "item-1", "metadata": {"sku": "A-1", "price": 9.5}, "fingerprint": fingerprint.to_payload()}
    point = StoredPointData("uuid", {"image": [0.5] * 1280, "text_image": [0.25] * 384}, body)
    count, size = written(Upsert((point, point)))
    exact = 2 * (4 * (1280 + 384) + len(json.dumps(body)))
    assert count == 2 and abs(size - exact) <= 0.02 * exact


async def test_an_insert_writes_in_the_event_loop_and_a_batch_in_a_worker(tmp_path: Path, monkeypatch) -> None:
    """An insert's update (~50 us) skips the hop to a worker thread; a batch of more than
    INLINE_WRITE_POINTS still takes it, so the event loop never waits for a large write."""
    import asyncio

    from qdrant_edge import EdgeShard

    from imagesearch.store.collection import INLINE_WRITE_POINTS

    hopped: list[object] = []
    real_to_thread = asyncio.to_thread

    async def counting(function, *args, **kwargs):
        hopped.append(function)
        return await real_to_thread(function, *args, **kwargs)

    store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    try:
        await store.create_collection("c", MODEL_SET)
        monkeypatch.setattr(asyncio, "to_thread", counting)
        await store.upsert("c", points(unit_vectors(1, 1)))
        assert EdgeShard.update not in hopped
        await store.upsert("c", points(unit_vectors(INLINE_WRITE_POINTS + 1, 2)))
        assert hopped.count(EdgeShard.update) == 1
        assert await store.count("c") == INLINE_WRITE_POINTS + 1
    finally:
        await store.close()

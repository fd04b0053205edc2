"""The embedded store's write-ahead log stays small: 4 MiB segments in new and existing
shards, and flushes often enough for the engine to truncate it (shard_files.py: every
byte of the WAL stays mapped in the serving process)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from imagesearch.store.edge import EdgeStore
from imagesearch.store.layout import CollectionPaths
from imagesearch.store.shard_config import EDGE_CONFIG_FILE, IndexSettings
from imagesearch.store.shard_files import WAL_DIR, WAL_OPTIONS
from test_store_edge import MODEL_SET, points, unit_vectors

SEGMENT = WAL_OPTIONS["segment_capacity"]


def wal_files(tmp_path: Path, name: str) -> dict[str, tuple[int, int]]:
    """Each WAL file of the live shard: (capacity, bytes allocated on disk)."""
    wal = CollectionPaths(tmp_path / "collections" / name).shard / WAL_DIR
    return {f.name: (f.stat().st_size, f.stat().st_blocks * 512) for f in wal.iterdir()}


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

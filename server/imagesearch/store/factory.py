"""Picks the store implementation from the server settings."""

from __future__ import annotations

from pathlib import Path

from imagesearch.config import Settings
from imagesearch.store.base import VectorStore
from imagesearch.store.shard_config import IndexSettings


def index_settings(settings: Settings) -> IndexSettings:
    """The store's index settings from the server's."""
    return IndexSettings(
        threshold=settings.index_threshold,
        quantization=settings.index_quantization,
        max_filter_indexes=settings.max_filter_indexes,
        journal_max_bytes=settings.index_journal_max_mb * 2**20,
        retry_base_s=settings.index_retry_base_s,
        retry_max_s=settings.index_retry_max_s,
        disk_margin=settings.index_disk_margin,
        dead_points_min=settings.index_dead_points_min,
    )


def open_store(
    data_dir: Path,
    qdrant_url: str | None,
    qdrant_api_key: str | None,
    index_threshold: int = IndexSettings.threshold,
    index_quantization: str = "int8",
    *,
    qdrant_shard_number: int = 0,
    qdrant_replication_factor: int = 0,
    qdrant_cache_ttl_s: float = 5.0,
    index: IndexSettings | None = None,
) -> VectorStore:
    """A remote Qdrant store if `qdrant_url` is set, else the embedded store in `data_dir`.

    `index_threshold` (embedded store only): unindexed points that start a background HNSW
    build; 0 disables automatic builds. `index_quantization` (embedded store only): "int8"
    or "none" for collections created from now on. `index` (all the index settings, see
    index_settings()) replaces both; its max_filter_indexes applies to either store. The qdrant_* arguments (remote store
    only): the shards and copies of each new collection (0: the server's default), and how long
    a collection's settings are trusted before they are read again (store/remote_cache.py).
    """
    index = index or IndexSettings(threshold=index_threshold, quantization=index_quantization)
    # Imported here so that each deployment loads only the engine binding it uses.
    if qdrant_url:
        from imagesearch.store.remote import ClusterLayout, RemoteQdrantStore

        layout = ClusterLayout(qdrant_shard_number, qdrant_replication_factor)
        return RemoteQdrantStore(
            qdrant_url, qdrant_api_key, layout=layout, cache_ttl_s=qdrant_cache_ttl_s,
            max_filter_indexes=index.max_filter_indexes,
        )
    from imagesearch.store.edge import EdgeStore

    return EdgeStore(data_dir, index)

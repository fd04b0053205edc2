"""Several API replicas on one Qdrant: each RemoteQdrantStore trusts its copy of a
collection's settings for cache_ttl_s only (store/remote_cache.py).

Two stores over one qdrant-client in local mode stand for two replicas on one server (no
Qdrant server can run on these machines; see test_store_remote.py). Time is the cache's
clock, advanced by hand, so the test does not sleep.
"""

from __future__ import annotations

import pytest
from qdrant_client import AsyncQdrantClient

from imagesearch.store.base import CollectionNotFound, ModelRecord, ModelSetRecord, ModerationPolicy, SpaceRecord
from imagesearch.store.remote import ClusterLayout, RemoteQdrantStore
from imagesearch.store.remote_cache import CollectionSettings, SettingsCache

TTL_S = 5.0
SET_A = ModelSetRecord(name="set-a", spaces=(SpaceRecord("v", ModelRecord("model-a", "1", 8)),))
SET_B = ModelSetRecord(name="set-b", spaces=(SpaceRecord("w", ModelRecord("model-b", "3", 16)),))
pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def replicas():
    client = AsyncQdrantClient(location=":memory:")
    clock = Clock()
    first = RemoteQdrantStore(None, client=client, cache_ttl_s=TTL_S, clock=clock)
    second = RemoteQdrantStore(None, client=client, cache_ttl_s=TTL_S, clock=clock)
    yield first, second, clock
    await client.close()


async def test_a_recreated_collection_is_seen_within_the_ttl(replicas) -> None:
    first, second, clock = replicas
    await first.create_collection("c", SET_A, ModerationPolicy(max_score=0.5))
    assert await second.model_set("c") == SET_A
    assert (await second.moderation("c")).max_score == 0.5

    # The first replica drops the name and creates another collection under it.
    await first.delete_collection("c")
    await first.create_collection("c", SET_B, ModerationPolicy(max_score=0.2))

    # Inside the TTL the second replica may still hold the old settings (documented) ...
    clock.now += TTL_S - 0.1
    assert await second.model_set("c") == SET_A
    # ... and from the TTL on it reads the new ones.
    clock.now += 0.1
    assert await second.model_set("c") == SET_B
    assert (await second.moderation("c")).max_score == 0.2


async def test_a_deleted_collection_is_seen_at_the_next_data_call(replicas) -> None:
    first, second, _ = replicas
    await first.create_collection("gone", SET_A)
    assert await second.count("gone") == 0
    await first.delete_collection("gone")
    # No clock advance: Qdrant's NOT_FOUND drops the stale copy at once.
    with pytest.raises(CollectionNotFound):
        await second.count("gone")
    with pytest.raises(CollectionNotFound):
        await second.model_set("gone")


async def test_settings_are_versioned_per_creation(replicas) -> None:
    first, _, _ = replicas
    await first.create_collection("v", SET_A)
    one = (await first._record("v"))[0]
    await first.delete_collection("v")
    await first.create_collection("v", SET_A)
    two = (await first._record("v"))[0]
    assert (one.version, two.version) == (1, 1)
    assert one.generation != two.generation and len(two.generation) == 32


async def test_a_zero_ttl_reads_every_time() -> None:
    clock = Clock()
    cache = SettingsCache(0.0, clock)
    cache.put("c", CollectionSettings.new(SET_A, ModerationPolicy()))
    assert cache.get("c") is None
    with pytest.raises(ValueError):
        SettingsCache(-1.0)


def test_collections_from_before_versioning_read_as_version_one() -> None:
    settings = CollectionSettings.new(SET_A, ModerationPolicy(max_score=0.3))
    raw = settings.to_metadata()
    assert CollectionSettings.from_metadata(raw) == settings
    del raw["generation"], raw["settings_version"]
    old = CollectionSettings.from_metadata(raw)
    assert (old.version, old.model_set, old.moderation.max_score) == (1, SET_A, 0.3)
    assert old.generation == f"created-{settings.created_at!r}"


class RecordingClient(AsyncQdrantClient):
    """Local mode, recording create_collection's arguments: local mode ignores sharding, and no
    Qdrant server (which would apply it) can run here. A spy, not a mock: the call goes through."""

    created: dict = {}

    async def create_collection(self, collection_name, **kwargs):
        self.created[collection_name] = kwargs
        return await super().create_collection(collection_name, **kwargs)


async def test_the_cluster_layout_reaches_qdrant() -> None:
    client = RecordingClient(location=":memory:")
    sharded = RemoteQdrantStore(None, client=client, layout=ClusterLayout(shard_number=6, replication_factor=2))
    default = RemoteQdrantStore(None, client=client)
    await sharded.create_collection("sharded", SET_A)
    await default.create_collection("plain", SET_A)
    assert (client.created["sharded"]["shard_number"], client.created["sharded"]["replication_factor"]) == (6, 2)
    # 0 leaves the choice to the server: the arguments are not sent.
    assert (client.created["plain"]["shard_number"], client.created["plain"]["replication_factor"]) == (None, None)
    await client.close()

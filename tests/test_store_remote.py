"""RemoteQdrantStore through qdrant-client's own local mode.

No Qdrant server can run on these machines, so the client is built with
`AsyncQdrantClient(location=":memory:")` / `path=`: the same client API and models the
gRPC client uses, served by qdrant-client's in-process implementation. This checks our use
of the client (payload layout, metadata, score handling), not a server's behaviour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient, models

from imagesearch.store.base import (
    CollectionExists,
    CollectionNotFound,
    InvalidCollectionName,
    ModelRecord,
    ModelSetRecord,
    PointToStore,
    SpaceRecord,
)
from imagesearch.store.factory import open_store
from imagesearch.store.remote import RemoteQdrantStore

DIM = 32
MODEL = ModelRecord(name="remote-model", version="2", dimension=DIM)
SPACE = "v"
MODEL_SET = ModelSetRecord(name="test-set", spaces=(SpaceRecord(SPACE, MODEL),))
pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")


def unit_vectors(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
async def store():
    store = RemoteQdrantStore(None, client=AsyncQdrantClient(location=":memory:"))
    yield store
    await store.close()


async def test_collection_lifecycle(store: RemoteQdrantStore) -> None:
    info = await store.create_collection("photos", MODEL_SET)
    assert (info.name, info.model, info.count) == ("photos", MODEL, 0)
    with pytest.raises(CollectionExists):
        await store.create_collection("photos", MODEL_SET)
    # A collection of another application on the same server is not ours to list or use.
    await store._client.create_collection(
        "foreign", vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT)
    )
    await store.create_collection("a-first", MODEL_SET)
    assert [c.name for c in await store.list_collections()] == ["a-first", "photos"]
    with pytest.raises(CollectionNotFound):
        await store.get_collection("foreign")
    await store.delete_collection("photos")
    with pytest.raises(CollectionNotFound):
        await store.get_collection("photos")
    with pytest.raises(CollectionNotFound):
        await store.delete_collection("photos")
    for name in ["a/b", "..", "has space", "x" * 300]:
        with pytest.raises(InvalidCollectionName):
            await store.create_collection(name, MODEL_SET)


async def test_points_and_search(store: RemoteQdrantStore) -> None:
    await store.create_collection("c", MODEL_SET)
    vectors = unit_vectors(2000, 1)
    ids = [f"img-{i}" for i in range(len(vectors))]
    await store.upsert("c", [PointToStore(id=ids[i], vectors={SPACE: v}, metadata={"n": i}) for i, v in enumerate(vectors)])
    assert await store.count("c") == 2000

    for query in unit_vectors(5, 2):
        hits = await store.search("c", query, 10)
        assert [h.id for h in hits] == [ids[i] for i in np.argsort(-(vectors @ query))[:10]]
        assert all(0 <= h.score <= 1 for h in hits)
    hits = await store.search("c", vectors[3], 1000, min_score=0.4)
    assert len(hits) == int(np.sum(vectors @ vectors[3] >= 0.4))

    # Replace, with user keys equal to the internal ones.
    await store.upsert("c", [PointToStore(id="img-3", vectors={SPACE: vectors[4]}, metadata={"id": "x", "metadata": {}})])
    got = await store.get("c", ["nope", "img-3"], with_vectors=True)
    assert [(p.id, p.metadata) for p in got] == [("img-3", {"id": "x", "metadata": {}})]
    np.testing.assert_allclose(got[0].vectors[SPACE], vectors[4], atol=1e-6)
    assert await store.count("c") == 2000

    assert await store.delete("c", ["img-3", "img-3", "nope"]) == 1
    assert await store.get("c", ["img-3"]) == []
    assert await store.count("c") == 1999
    with pytest.raises(ValueError):
        await store.search("c", vectors[0], 0)
    with pytest.raises(CollectionNotFound):
        await store.upsert("missing", [PointToStore(id="a", vectors={SPACE: vectors[0]})])
    # Dropped by someone else while its model record is cached here.
    await store._client.delete_collection("c")
    with pytest.raises(CollectionNotFound):
        await store.search("c", vectors[0], 5)
    with pytest.raises(CollectionNotFound):
        await store.count("c")


async def test_metadata_survives_reopen(tmp_path: Path) -> None:
    first = RemoteQdrantStore(None, client=AsyncQdrantClient(path=str(tmp_path / "local")))
    created = await first.create_collection("keep", MODEL_SET)
    await first.upsert("keep", [PointToStore(id="a", vectors={SPACE: unit_vectors(1, 3)[0]}, metadata={"k": 1})])
    await first.close()
    second = RemoteQdrantStore(None, client=AsyncQdrantClient(path=str(tmp_path / "local")))
    try:
        info = await second.get_collection("keep")
        assert (info.model, info.created_at, info.count) == (MODEL, created.created_at, 1)
        assert (await second.get("keep", ["a"]))[0].metadata == {"k": 1}
    finally:
        await second.close()


async def test_factory_picks_the_engine(tmp_path: Path) -> None:
    remote = open_store(tmp_path, "http://localhost:6334", None, 1000)
    assert isinstance(remote, RemoteQdrantStore)
    await remote.close()
    embedded = open_store(tmp_path, None, None, 1000)
    try:
        assert await embedded.list_collections() == []
    finally:
        await embedded.close()

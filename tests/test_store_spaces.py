"""Both stores keep one named vector per model-set space and search each space apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient

from imagesearch.store.base import ModelRecord, ModelSetRecord, PointToStore, SpaceRecord
from imagesearch.store.edge import EdgeStore
from imagesearch.store.remote import RemoteQdrantStore

TWO_SPACES = ModelSetRecord(
    "pair",
    (SpaceRecord("image", ModelRecord("big", "1", 24)), SpaceRecord("text_image", ModelRecord("small", "3", 8))),
)
pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")


def unit(n: int, dim: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture(params=["edge", "remote"])
async def store(request, tmp_path: Path):
    store = EdgeStore(tmp_path) if request.param == "edge" else RemoteQdrantStore(
        None, client=AsyncQdrantClient(location=":memory:")
    )
    yield store
    await store.close()


async def test_named_vectors_per_space(store) -> None:
    info = await store.create_collection("c", TWO_SPACES)
    assert info.model_set == TWO_SPACES and info.model == ModelRecord("big", "1", 24)
    big, small = unit(20, 24, 1), unit(20, 8, 2)
    await store.upsert(
        "c", [PointToStore(id=f"p{i}", vectors={"image": big[i], "text_image": small[i]}) for i in range(20)]
    )
    # Each space ranks by its own vectors; the default is the first space.
    assert (await store.search("c", big[3], 1))[0].id == "p3"
    assert (await store.search("c", big[3], 1, space="image"))[0].id == "p3"
    assert (await store.search("c", small[7], 1, space="text_image"))[0].id == "p7"
    (point,) = await store.get("c", ["p5"], with_vectors=True)
    np.testing.assert_allclose(point.vectors["text_image"], small[5], atol=1e-6)
    np.testing.assert_allclose(point.vectors["image"], big[5], atol=1e-6)
    with pytest.raises(ValueError, match="no vector space"):
        await store.search("c", small[0], 1, space="audio")
    with pytest.raises(ValueError, match="spaces"):
        await store.upsert("c", [PointToStore(id="x", vectors={"image": big[0]})])
    with pytest.raises(ValueError, match="shape"):
        await store.upsert("c", [PointToStore(id="x", vectors={"image": big[0], "text_image": big[1]})])
    assert (await store.get_collection("c")).model_set == TWO_SPACES

"""RemoteQdrantStore aliases through qdrant-client's local mode (same client API as a server;
no Qdrant server here). Snapshots are not implemented by local mode: the remote snapshot
calls are untested."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient

from imagesearch.store.base import AliasExists, AliasNotFound, OriginalsUnsupported, ModelRecord, ModelSetRecord, PointToStore, SpaceRecord
from imagesearch.store.remote import RemoteQdrantStore

SET = ModelSetRecord("s", (SpaceRecord("v", ModelRecord("m", "1", 4)),))


@pytest.fixture
async def store():
    store = RemoteQdrantStore(None, client=AsyncQdrantClient(location=":memory:"))
    yield store
    await store.close()


async def test_aliases_switch_and_resolve(store: RemoteQdrantStore) -> None:
    for name, n in (("v1", 1), ("v2", 2)):
        await store.create_collection(name, SET)
        await store.upsert(name, [PointToStore(id=f"{name}-{i}", vectors={"v": np.eye(4, dtype=np.float32)[i]})
                                  for i in range(n)])
    await store.create_alias("live", "v1")
    assert await store.resolve("live") == "v1" and await store.count("live") == 1
    with pytest.raises(AliasExists):
        await store.create_alias("live", "v2")
    await store.switch_alias("live", "v2")
    assert await store.resolve("live") == "v2" and await store.count("live") == 2
    assert [(a.name, a.collection) for a in await store.list_aliases()] == [("live", "v2")]
    await store.delete_alias("live")
    with pytest.raises(AliasNotFound):
        await store.delete_alias("live")
    with pytest.raises(OriginalsUnsupported):
        await store.create_collection("kept", SET, keep_originals=True)


async def test_newer_collection_format_is_refused(store: RemoteQdrantStore) -> None:
    from qdrant_client import models

    from imagesearch.store.format import FormatTooNew
    from imagesearch.store.records import model_set_to_dict

    await store._client.create_collection(
        "future", vectors_config={"v": models.VectorParams(size=4, distance=models.Distance.COSINE)},
        metadata={"imagesearch": {"model_set": model_set_to_dict(SET), "created_at": 0.0, "format_version": 99}},
    )
    with pytest.raises(FormatTooNew) as caught:
        await store.get_collection("future")
    assert caught.value.found == 99
    await store.create_collection("now", SET)
    assert not await store.keeps_originals("now")


async def test_remote_metadata_stays_readable_by_format_2_pods(store: RemoteQdrantStore) -> None:
    """Format 3 changed the embedded layout only: a remote collection created (or updated)
    by this code must not be refused by the format-2 API pods of a rolling upgrade, whose
    check is `format_version > 2` (format.py, REMOTE_COLLECTION_FORMAT_VERSION)."""
    await store.create_collection("rolling", SET)
    await store.update_collection("rolling", description="changed by a format-3 pod")
    info = await store._client.get_collection("rolling")
    recorded = info.config.metadata["imagesearch"]
    assert recorded["format_version"] <= 2
    assert "score_calibration_version" in recorded  # the pin is there; format-2 code ignores it

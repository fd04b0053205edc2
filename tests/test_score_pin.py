"""A collection scores with the calibration version it was created under (scoring/registry.py
pins; the stores record it): a server shipping a newer version changes the scores of new
collections only, and collections recorded before pins existed read as offline/v1."""

from __future__ import annotations

import json
from types import MappingProxyType

import grpc
import pytest
from imagesearch_client.v1 import imagesearch_pb2 as pb
from imagesearch_client.v1 import imagesearch_pb2_grpc as pb_grpc
from qdrant_client import AsyncQdrantClient

from api_fakes import FakeImageEncoder, served_offline, start_fake_server
from conftest import corel_path
from imagesearch.scoring import registry
from imagesearch.scoring.calibration import CalibrationError
from imagesearch.store.base import SCORE_PIN_KEY, ModerationPolicy, ScorePin
from imagesearch.store.edge import EdgeStore
from imagesearch.store.remote import RemoteQdrantStore

RECORD = served_offline(FakeImageEncoder()).record


def test_the_registry_resolves_pins() -> None:
    assert registry.pin_for_new("offline") == ScorePin(3)  # offline/v3: the image hits' consensus
    assert registry.pin_for_new("clip") == ScorePin(registry.IDENTITY)  # no calibration: the identity
    assert registry.pinned("offline", ScorePin(None)).label == "offline/v1"  # recorded before pins
    assert registry.pinned("offline", ScorePin(1)).label == "offline/v1"
    assert registry.pinned("clip", ScorePin(None)) is None and registry.pinned("offline", ScorePin(0)) is None
    with pytest.raises(CalibrationError):
        registry.pinned("offline", ScorePin(7))  # made by a newer server: refused, never rescored silently
    assert ScorePin.from_dict(ScorePin(3).to_dict()) == ScorePin(3) and ScorePin().to_dict() == {}


async def test_the_embedded_store_records_the_pin_and_reads_old_records_as_v1(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(registry, "CURRENT", MappingProxyType({"offline": 1}))  # a server before v2
    store = EdgeStore(tmp_path / "data")
    await store.create_collection("early", RECORD, ModerationPolicy(scoring=False))
    await store.create_collection("old", RECORD, ModerationPolicy(scoring=False))
    monkeypatch.setattr(registry, "CURRENT", MappingProxyType({"offline": 2}))
    info = await store.create_collection("late", RECORD, ModerationPolicy(scoring=False))
    assert info.score_pin == ScorePin(2)
    await store.update_collection("early", description="kept across updates")
    await store.close()
    sidecar = tmp_path / "data" / "collections" / "old" / "collection.json"
    raw = json.loads(sidecar.read_text())
    assert raw.pop(SCORE_PIN_KEY) == 1
    sidecar.write_text(json.dumps(raw))  # as written before collections recorded a pin
    store = EdgeStore(tmp_path / "data")
    try:
        assert await store.score_pin("early") == ScorePin(1)
        assert await store.score_pin("late") == ScorePin(2)
        assert await store.score_pin("old") == ScorePin(None)
        assert registry.pinned("offline", await store.score_pin("old")).label == "offline/v1"
    finally:
        await store.close()


async def test_the_remote_store_records_the_pin(monkeypatch) -> None:
    client = AsyncQdrantClient(location=":memory:")
    try:
        store = RemoteQdrantStore(None, client=client)
        monkeypatch.setattr(registry, "CURRENT", MappingProxyType({"offline": 1}))
        await store.create_collection("early", RECORD, ModerationPolicy(scoring=False))
        monkeypatch.setattr(registry, "CURRENT", MappingProxyType({"offline": 2}))
        await store.create_collection("late", RECORD, ModerationPolicy(scoring=False))
        assert await store.score_pin("early") == ScorePin(1)
        assert (await store.get_collection("late")).score_pin == ScorePin(2)
    finally:
        await client.close()


async def test_hits_are_scored_with_the_collections_pinned_version(tmp_path) -> None:
    """A collection made by a server that shipped offline/v1 keeps v1 after the upgrade to
    v3 (here: created while CURRENT said 1); a new one scores with v3, text included."""
    fake = await start_fake_server(tmp_path / "data")
    channel = grpc.aio.insecure_channel(fake.address)
    stub = pb_grpc.ImageSearchServiceStub(channel)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(registry, "CURRENT", MappingProxyType({"offline": 1}))
            await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="v1", collection=pb.Collection()))
        await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="v3", collection=pb.Collection()))
        for name in ("v1", "v3"):
            for i in (100, 101, 600):
                await stub.CreateItem(pb.CreateItemRequest(
                    parent=f"collections/{name}", item_id=f"c{i}", item=pb.Item(),
                    image=pb.Image(content=corel_path(i).read_bytes())))
            query = pb.Image(content=corel_path(101).read_bytes())
            hits = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent=f"collections/{name}", image=query))]
            texts = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent=f"collections/{name}", text="a bus"))]
            assert {h.score_calibration for h in (*hits, *texts)} == {f"offline/{name}"}
            got = await stub.GetCollection(pb.GetCollectionRequest(name=f"collections/{name}"))
            assert got.score_calibration == f"offline/{name}"
    finally:
        await channel.close()
        await fake.stop()


async def test_a_collection_pinned_to_a_version_this_server_lacks_is_failed_precondition(tmp_path) -> None:
    """A collection made by a newer server (pinned to a version not shipped here) is refused
    with FAILED_PRECONDITION naming the calibration, not scored with another version nor
    answered with INTERNAL."""
    fake = await start_fake_server(tmp_path / "data")
    channel = grpc.aio.insecure_channel(fake.address)
    stub = pb_grpc.ImageSearchServiceStub(channel)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(registry, "CURRENT", MappingProxyType({"offline": 9}))
            await stub.CreateCollection(pb.CreateCollectionRequest(collection_id="newer", collection=pb.Collection()))
        described = await stub.GetCollection(pb.GetCollectionRequest(name="collections/newer"))
        assert described.score_calibration == "offline/v9"  # still described, listed and deletable
        query = pb.Image(content=corel_path(101).read_bytes())
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            _ = [h async for h in stub.SearchItems(pb.SearchItemsRequest(parent="collections/newer", image=query))]
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "offline/v9" in refused.value.details() and "does not ship" in refused.value.details()
    finally:
        await channel.close()
        await fake.stop()

"""Collections keep their model set: other versions and first-slice collections are refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest

from conftest import ServerProcess, corel_path
from imagesearch.store.base import ModelRecord, ModelSetRecord, SpaceRecord
from imagesearch.store.edge import EdgeStore
from imagesearch.store.records import model_set_from_dict, model_set_to_dict
from imagesearch_client import InsertItem
from imagesearch_client.errors import error_reason

OLD_OFFLINE = ModelSetRecord(
    "offline",
    (
        SpaceRecord("image", ModelRecord("efficientnet-lite0-imagenet", "0", 1280)),
        SpaceRecord("text_image", ModelRecord("efficientnet-lite0-imagenet-classes-minilm", "0", 384)),
    ),
)


def test_record_round_trip_and_first_slice_format() -> None:
    assert model_set_from_dict({"model_set": model_set_to_dict(OLD_OFFLINE)}) == OLD_OFFLINE
    legacy = model_set_from_dict({"model": {"name": "efficientnet-lite0-imagenet", "version": "1", "dimension": 1280}})
    assert legacy.name == "offline" and legacy.space_names == ("",)


def make_collection(data_dir: Path, name: str, record: ModelSetRecord) -> None:
    async def create() -> None:
        store = EdgeStore(data_dir)
        await store.create_collection(name, record)
        await store.close()

    asyncio.run(create())


def test_other_versions_and_first_slice_collections_are_refused(server: ServerProcess, tmp_path: Path) -> None:
    data_dir = tmp_path / "old"
    make_collection(data_dir, "old-version", OLD_OFFLINE)
    make_collection(data_dir, "first-slice", OLD_OFFLINE)
    # Rewrite the sidecar into the first slice's format (one unnamed model).
    sidecar = data_dir / "collections" / "first-slice" / "collection.json"
    raw = json.loads(sidecar.read_text())
    sidecar.write_text(json.dumps({"model": raw["model_set"]["spaces"][0]["model"], "created_at": raw["created_at"]}))

    own = ServerProcess(data_dir, extra_args=["--triton-url", f"127.0.0.1:{server.triton_grpc_port}"]).start()
    try:
        with own.client() as client:
            image = corel_path(0).read_bytes()
            for name in ("old-version", "first-slice"):
                for call, args in (
                    (client.search, (name, image)),
                    (client.search_text, (name, "a beach")),
                    (client.create_item, (name, InsertItem(image=image))),
                ):
                    with pytest.raises(grpc.RpcError) as info:
                        call(*args)
                    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
                    assert "re-insert" in info.value.details(), info.value.details()
                    assert error_reason(info.value) == "MODEL_SET_MISMATCH"
                assert client.count_items(name) == 0  # reading and deleting still work
            assert client.get_collection("old-version").model_version == "0"
            client.delete_collection("first-slice")
    finally:
        own.stop()

"""reprocess.py on the real engine with real Corel originals. The encoder is a real but
cheap image function (Pillow colour histograms, SHA-256, mean brightness) standing in for
the served models, which the lead binds in the server; a crash is simulated once by an
encoder that raises mid-run (a kill cannot be aimed at the middle of a pass in-process)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import COREL
from imagesearch.store.base import ModelRecord, ModelSetRecord, OriginalsNotKept, PointToStore, SpaceRecord
from imagesearch.store.edge import EdgeStore
from imagesearch.store.reprocess import Encoded, ReprocessMode, reprocess
from imagesearch.store.shard_config import IndexSettings

V1 = ModelSetRecord("hist", (SpaceRecord("a", ModelRecord("rgb-hist", "1", 24)),))
V2 = ModelSetRecord("hist", (SpaceRecord("a", ModelRecord("rgb-hist", "2", 48)),))


def histogram(data: bytes, bins: int) -> np.ndarray:
    image = Image.open(io.BytesIO(data)).convert("RGB").resize((64, 64))
    pixels = np.asarray(image).reshape(-1, 3)
    h = np.concatenate([np.histogram(pixels[:, c], bins=bins, range=(0, 256))[0] for c in range(3)]).astype(np.float32)
    return h / np.linalg.norm(h)


async def encode_v1(data: bytes) -> Encoded:
    brightness = float(np.asarray(Image.open(io.BytesIO(data)).convert("L")).mean() / 255)
    return Encoded({"a": histogram(data, 8)}, {"sha256": hashlib.sha256(data).hexdigest()}, brightness)


async def encode_v2(data: bytes) -> Encoded:
    return Encoded({"a": histogram(data, 16)}, {"sha256": hashlib.sha256(data).hexdigest()}, None)


@pytest.fixture
async def store(tmp_path: Path):
    store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    yield store
    await store.close()


async def insert_bare(store: EdgeStore, name: str, indices: range) -> None:
    """Items as stored before fingerprints and NSFW scores: vectors and metadata only."""
    items = []
    for i in indices:
        data = (COREL / f"{i}.jpg").read_bytes()
        items.append(PointToStore(id=f"c{i}", vectors={"a": histogram(data, 8)}, metadata={"i": i}, original=data))
    await store.upsert(name, items)


async def test_fill_missing_features_in_place_and_resume(store: EdgeStore) -> None:
    await store.create_collection("photos", V1, keep_originals=True)
    await insert_bare(store, "photos", range(0, 150))
    before = {p.id: p for p in await store.get("photos", [f"c{i}" for i in range(150)], with_vectors=True)}
    assert all("fingerprint" in p.missing_features for p in before.values())
    report = await reprocess(store, "photos", encode_v1, ReprocessMode.FILL, provides=frozenset({"fingerprint", "nsfw"}))
    assert (report.processed, report.skipped, report.no_original) == (150, 0, [])
    after = {p.id: p for p in await store.get("photos", list(before), with_vectors=True)}
    for point_id, point in after.items():
        data = (COREL / f"{point_id[1:]}.jpg").read_bytes()
        assert point.missing_features == ("ocr", "faces")
        assert point.fingerprint == {"sha256": hashlib.sha256(data).hexdigest()}
        assert point.nsfw_score == pytest.approx((await encode_v1(data)).nsfw_score)
        np.testing.assert_array_equal(point.vectors["a"], before[point_id].vectors["a"])
        assert point.metadata == before[point_id].metadata
    again = await reprocess(store, "photos", encode_v1, ReprocessMode.FILL, provides=frozenset({"fingerprint", "nsfw"}))
    assert (again.processed, again.skipped) == (0, 150)


async def test_reembed_into_new_version_resumes_then_alias_switches(store: EdgeStore) -> None:
    await store.create_collection("photos-v1", V1, keep_originals=True)
    await insert_bare(store, "photos-v1", range(0, 200))
    await store.create_alias("photos", "photos-v1")
    calls = 0

    async def crashing(data: bytes) -> Encoded:
        nonlocal calls
        calls += 1
        if calls == 100:
            raise RuntimeError("simulated crash mid-run")
        return await encode_v2(data)

    with pytest.raises(RuntimeError):
        await reprocess(store, "photos", crashing, ReprocessMode.REEMBED, "photos-v2", V2)
    partial = await store.count("photos-v2")
    assert 0 < partial < 200
    # The old collection serves meanwhile, through the alias.
    query = (COREL / "5.jpg").read_bytes()
    assert (await store.search("photos", histogram(query, 8), 1))[0].id == "c5"
    await store.delete("photos-v1", ["c199"])
    seen = []
    report = await reprocess(store, "photos", encode_v2, ReprocessMode.REEMBED, "photos-v2", V2,
                             progress=lambda done, total: seen.append(done))
    assert report.skipped == partial and report.processed == 199 - partial and seen[-1] == 199
    assert await store.count("photos-v2") == 199 and (await store.get("photos-v2", ["c199"])) == []
    await store.switch_alias("photos", "photos-v2")
    assert await store.model_set("photos") == V2
    assert (await store.search("photos", histogram(query, 16), 1))[0].id == "c5"
    assert await store.get_original("photos-v2", "c5") == query


async def test_reprocess_needs_originals(store: EdgeStore) -> None:
    await store.create_collection("plain", V1)
    with pytest.raises(OriginalsNotKept):
        await reprocess(store, "plain", encode_v1, ReprocessMode.FILL)

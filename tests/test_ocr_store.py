"""OCR lines in the stores: the policy, the payload, text search and the text filter.

Each test runs on the real qdrant-edge engine and on RemoteQdrantStore through
qdrant-client's in-process local mode (the same client calls a Qdrant server gets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from imagesearch.ocr.lines import OcrLine
from imagesearch.ocr.query import MatchMode, parse_query
from imagesearch.ocr.search import search_text, verified_vector_search
from imagesearch.store.base import ModelRecord, ModelSetRecord, OcrPolicy, PointToStore, SpaceRecord
from imagesearch.store.edge import EdgeStore
from imagesearch.store.remote import RemoteQdrantStore
from qdrant_client import AsyncQdrantClient
from imagesearch.store.filters import Filter, Match, OCR_GRAMS_FIELD, metadata_path
from imagesearch.store.shard_config import IndexSettings

DIM = 8
SPACE = "v"
MODEL_SET = ModelSetRecord(name="test-set", spaces=(SpaceRecord(SPACE, ModelRecord("m", "1", DIM)),))
BOX = ((1.0, 2.0), (40.0, 2.0), (40.0, 12.0), (1.0, 12.0))
TEXTS = {
    "shop": ["027-88852022", "027-88859022", "24H"],
    "car": ["RE16 TGK"],
    "paper": ["MovieShots Dataset", "46K shots from 7858 movies"],
    "poster": ["正品促销", "强力去污"],
    "photo": [],  # read, no text
}


def vector(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return v / np.linalg.norm(v)


pytestmark = pytest.mark.filterwarnings("ignore:Local mode performs exact")


@pytest.fixture(params=["edge", "remote"])
async def store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "edge":
        store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    else:
        store = RemoteQdrantStore(None, client=AsyncQdrantClient(location=":memory:"))
    await store.create_collection("c", MODEL_SET, ocr=OcrPolicy(enabled=True))
    points = [
        PointToStore(id=name, vectors={SPACE: vector(i)}, metadata={"kind": name},
                     ocr_lines=tuple(OcrLine(t, 0.9, BOX) for t in texts))
        for i, (name, texts) in enumerate(TEXTS.items())
    ]
    # A point stored without OCR (None) has no record at all.
    points.append(PointToStore(id="unread", vectors={SPACE: vector(99)}, metadata={"kind": "unread"}))
    await store.upsert("c", points)
    yield store
    await store.close()


async def ids(store: EdgeStore, query: str, mode: MatchMode = MatchMode.ALL_WORDS, **kwargs) -> list[str]:
    return [hit.id for hit in await search_text(store, "c", parse_query(query, mode), 10, **kwargs)]


async def test_policy_is_recorded_and_survives_reopening(tmp_path: Path) -> None:
    store = EdgeStore(tmp_path)
    await store.create_collection("on", MODEL_SET, ocr=OcrPolicy(enabled=True))
    await store.create_collection("off", MODEL_SET)
    await store.close()
    store = EdgeStore(tmp_path)
    try:
        assert await store.ocr_policy("on") == OcrPolicy(enabled=True)
        assert (await store.get_collection("off")).ocr == OcrPolicy(enabled=False)
    finally:
        await store.close()


async def test_lines_are_stored_and_read_back(store: EdgeStore) -> None:
    shop, photo, unread = await store.get("c", ["shop", "photo", "unread"])
    assert [line.text for line in shop.ocr_lines] == TEXTS["shop"]
    assert shop.ocr_lines[0].box == BOX and shop.ocr_lines[0].confidence == pytest.approx(0.9)
    assert photo.ocr_lines == () and unread.ocr_lines is None


def test_payload_stamps_the_ocr_feature_when_ocr_ran() -> None:
    from imagesearch.store.points import payload

    vectors = {SPACE: vector(0)}
    assert "ocr" in payload(PointToStore(id="a", vectors=vectors, ocr_lines=()))["features"]
    assert "ocr" not in payload(PointToStore(id="b", vectors=vectors))["features"]
    assert payload(PointToStore(id="c", vectors=vectors, ocr_lines=(OcrLine("x", 0.9, BOX),)))["ocr_grams"] == ["x"]


async def test_text_search_finds_partial_fuzzy_and_cjk_text(store: EdgeStore) -> None:
    assert await ids(store, "8885") == ["shop"]
    assert await ids(store, "re16") == ["car"]
    assert await ids(store, "movieshots dataset", MatchMode.PHRASE) == ["paper"]
    assert await ids(store, "Datasct") == ["paper"]  # one edit
    assert await ids(store, "强力") == ["poster"]
    assert await ids(store, "zebra") == []
    assert await ids(store, "24h shots") == []  # the words are in different images


async def test_text_hits_carry_scores_and_matched_lines(store: EdgeStore) -> None:
    (hit,) = await search_text(store, "c", parse_query("88859022"), 5)
    assert hit.id == "shop" and hit.metadata == {"kind": "shop"} and 0.5 < hit.score <= 1.0
    assert [m.line.text for m in hit.match.lines] == ["027-88859022"]
    assert hit.match.lines[0].line.box == BOX


async def test_text_search_combines_with_a_metadata_filter(store: EdgeStore) -> None:
    only_car = Filter(must=(Match(metadata_path("kind"), "car"),))
    assert await ids(store, "TGK", flt=only_car) == ["car"]
    assert await ids(store, "8885", flt=only_car) == []


async def test_text_condition_filters_a_vector_search_in_the_engine(store: EdgeStore) -> None:
    hits = await verified_vector_search(store, "c", vector(3), parse_query("shots"), limit=5)
    assert [h.hit.id for h in hits] == ["paper"]
    assert hits[0].match.lines[0].line.text == "46K shots from 7858 movies"
    if isinstance(store, EdgeStore):
        # The engine indexed the n-gram list the first time it was filtered on.
        info = await store._collection("c").run(lambda shard: shard.info())
        assert OCR_GRAMS_FIELD in info.payload_schema


async def test_remote_policy_is_recorded() -> None:
    store = RemoteQdrantStore(None, client=AsyncQdrantClient(location=":memory:"))
    try:
        await store.create_collection("on", MODEL_SET, ocr=OcrPolicy(enabled=True))
        await store.create_collection("off", MODEL_SET)
        for name in ("on", "off"):  # read back from the collections' metadata, not the cache
            store._settings.drop(name)
        assert await store.ocr_policy("on") == OcrPolicy(enabled=True)
        assert (await store.get_collection("off")).ocr == OcrPolicy(enabled=False)
    finally:
        await store.close()

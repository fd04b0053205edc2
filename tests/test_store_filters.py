"""Metadata filters in both stores: evaluated by the engine, with payload indexes created."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient

from imagesearch.store import filters as f
from imagesearch.store.base import ModelRecord, ModelSetRecord, ModerationPolicy, PointToStore, SpaceRecord
from imagesearch.store.edge import EdgeStore
from imagesearch.store.remote import RemoteQdrantStore
from imagesearch.store.shard_config import IndexSettings

DIM = 16
TEXT_DIM = 8
# Two spaces, like the offline model set: filters must hold in whichever one a search uses.
MODEL_SET = ModelSetRecord(
    "filter-set",
    (
        SpaceRecord("image", ModelRecord(name="filter-model", version="1", dimension=DIM)),
        SpaceRecord("text_image", ModelRecord(name="filter-text", version="1", dimension=TEXT_DIM)),
    ),
)
N = 300
pytestmark = [
    pytest.mark.filterwarnings("ignore:Local mode performs exact"),
    pytest.mark.filterwarnings("ignore:Payload indexes have no effect"),
]


def metadata(i: int) -> dict:
    item = {
        "color": ["red", "green", "blue"][i % 3],
        "n": i,
        "price": i / 10,
        "taken": datetime(2024, 1, 1 + i % 28, tzinfo=timezone.utc).isoformat(),
        "camera": {"make": "acme" if i % 2 else "zeta"},
        "tags": ["a", "b"] if i % 5 == 0 else [],
    }
    if i % 4 == 0:
        del item["price"]
    return item


@pytest.fixture(params=["edge", "remote"])
async def store(request, tmp_path: Path):
    if request.param == "edge":
        store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    else:
        store = RemoteQdrantStore(None, client=AsyncQdrantClient(location=":memory:"))
    vectors = np.random.default_rng(0).standard_normal((N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    texts = np.random.default_rng(5).standard_normal((N, TEXT_DIM)).astype(np.float32)
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    await store.create_collection("c", MODEL_SET)
    await store.upsert("c", [
        PointToStore(id=f"p{i}", vectors={"image": v, "text_image": t}, metadata=metadata(i))
        for i, (v, t) in enumerate(zip(vectors, texts))
    ])
    yield store
    await store.close()


def expected(predicate) -> set[str]:
    return {f"p{i}" for i in range(N) if predicate(metadata(i))}


CASES = {
    "match keyword": (f.Filter(must=(f.Match("metadata.color", "red"),)), lambda m: m["color"] == "red"),
    "match int": (f.Filter(must=(f.Match("metadata.n", 17),)), lambda m: m["n"] == 17),
    "match nested": (f.Filter(must=(f.Match("metadata.camera.make", "acme"),)), lambda m: m["camera"]["make"] == "acme"),
    "match in list": (f.Filter(must=(f.Match("metadata.tags", "b"),)), lambda m: "b" in m["tags"]),
    "any": (f.Filter(must=(f.MatchAny("metadata.n", (1, 2, 3, 250)),)), lambda m: m["n"] in (1, 2, 3, 250)),
    "range": (f.Filter(must=(f.Range("metadata.price", gte=5, lt=7.5),)), lambda m: 5 <= m.get("price", -1) < 7.5),
    "datetime": (
        f.Filter(must=(f.DatetimeRange("metadata.taken", gte=datetime(2024, 1, 10, tzinfo=timezone.utc),
                                       lt=datetime(2024, 1, 12, tzinfo=timezone.utc)),)),
        lambda m: m["taken"][:10] in ("2024-01-10", "2024-01-11"),
    ),
    "exists": (f.Filter(must=(f.Exists("metadata.price"),)), lambda m: "price" in m),
    "is empty": (f.Filter(must=(f.IsEmpty("metadata.tags"),)), lambda m: not m["tags"]),
    "should + must_not": (
        f.Filter(should=(f.Match("metadata.color", "red"), f.Match("metadata.color", "blue")), must_not=(f.Range("metadata.n", lt=100),)),
        lambda m: m["color"] in ("red", "blue") and m["n"] >= 100,
    ),
    "nested filter": (
        f.Filter(must=(f.Filter(should=(f.Match("metadata.n", 3), f.Match("metadata.n", 4))),)),
        lambda m: m["n"] in (3, 4),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_filter_selects_exactly(store, case: str) -> None:
    flt, predicate = CASES[case]
    want = expected(predicate)
    hits = await store.search("c", np.ones(DIM, np.float32) / np.sqrt(DIM), 1000, flt=flt)
    assert {h.id for h in hits} == want


@pytest.mark.parametrize("case", ["match keyword", "range", "should + must_not"])
async def test_filter_holds_in_the_second_space(store, case: str) -> None:
    flt, predicate = CASES[case]
    query = np.ones(TEXT_DIM, np.float32) / np.sqrt(TEXT_DIM)
    hits = await store.search("c", query, 1000, space="text_image", flt=flt)
    assert {h.id for h in hits} == expected(predicate)


async def test_selective_filter_still_fills_top_k(store) -> None:
    # 1 in 3 items pass: a post-filter of the 10 nearest would return ~3.
    hits = await store.search("c", np.ones(DIM, np.float32) / np.sqrt(DIM), 10, flt=f.Filter(must=(f.Match("metadata.color", "green"),)))
    assert len(hits) == 10 and all(h.metadata["color"] == "green" for h in hits)


async def test_payload_indexes_created(store) -> None:
    flt = f.Filter(must=(f.Match("metadata.color", "red"), f.Range("metadata.price", gt=1)))
    await store.search("c", np.ones(DIM, np.float32), 5, flt=flt)
    if isinstance(store, EdgeStore):
        collection = store._collection("c")
        schema = (await collection.run(lambda shard: shard.info())).payload_schema
        assert {"metadata.color", "metadata.price"} <= set(schema)
    else:
        # qdrant-client's local mode keeps no payload indexes; only the calls can be seen.
        assert {"metadata.color", "metadata.price"} <= store._indexed["c"]


async def test_scroll_fingerprints_and_nsfw_scores(store) -> None:
    await store.create_collection("fp", MODEL_SET)
    vectors = np.random.default_rng(1).standard_normal((25, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    await store.upsert("fp", [
        PointToStore(
            id=f"q{i}", vectors={"image": v, "text_image": v[:TEXT_DIM]}, metadata={"n": i},
            fingerprint={"sha256": f"h{i % 5}"}, nsfw_score=i / 100,
        )
        for i, v in enumerate(vectors)
    ])
    seen, offset = [], None
    while True:
        page, offset = await store.scroll("fp", offset, 10)
        seen += page
        if offset is None:
            break
    assert sorted(p.id for p in seen) == sorted(f"q{i}" for i in range(25))
    assert all(set(p.vectors) == {"image", "text_image"} and p.fingerprint["sha256"] for p in seen)
    # Fingerprints only when asked; NSFW scores always; both filterable in the engine.
    plain = await store.search("fp", vectors[0], 25)
    assert plain[0].fingerprint is None and plain[0].nsfw_score == pytest.approx(0.0)
    same = await store.search("fp", vectors[0], 25, flt=f.Filter(must=(f.Match("fingerprint.sha256", "h2"),)),
                              with_fingerprint=True)
    assert {h.id for h in same} == {"q2", "q7", "q12", "q17", "q22"} and same[0].fingerprint["sha256"] == "h2"
    capped = await store.search("fp", vectors[0], 25, flt=f.Filter(must=(f.Range(f.NSFW_FIELD, lte=0.1),)))
    assert {h.id for h in capped} == {f"q{i}" for i in range(11)}


async def test_moderation_policy_is_recorded(store) -> None:
    """The NSFW policy is kept with the model set and read without counting points."""
    policy = ModerationPolicy(max_score=0.25)
    info = await store.create_collection("moderated", MODEL_SET, policy)
    assert info.moderation == policy and info.model_set == MODEL_SET
    assert await store.moderation("moderated") == policy
    unscored = ModerationPolicy(scoring=False)
    assert (await store.create_collection("unscored", MODEL_SET, unscored)).moderation == unscored
    assert await store.moderation("unscored") == unscored
    assert await store.moderation("c") == ModerationPolicy()
    assert (await store.get_collection("c")).moderation == ModerationPolicy(scoring=True, max_score=None)
    with pytest.raises(ValueError):
        ModerationPolicy(scoring=False, max_score=0.5)


async def test_moderation_policy_survives_a_restart(tmp_path: Path) -> None:
    """The embedded store reads the policy back from the collection's sidecar."""
    store = EdgeStore(tmp_path, IndexSettings(threshold=0))
    await store.create_collection("unscored", MODEL_SET, ModerationPolicy(scoring=False))
    await store.create_collection("strict", MODEL_SET, ModerationPolicy(max_score=0.1))
    await store.close()
    reopened = EdgeStore(tmp_path, IndexSettings(threshold=0))
    try:
        assert await reopened.moderation("unscored") == ModerationPolicy(scoring=False)
        assert await reopened.moderation("strict") == ModerationPolicy(max_score=0.1)
    finally:
        await reopened.close()

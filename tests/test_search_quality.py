"""Acceptance on Corel-1K through the real server: ingest all 1,000 photos, query with each."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.text_quality import QUERY_SETS, mean, measure, report
from conftest import COREL_SIZE as N_IMAGES
from conftest import CorelIngest, ServerProcess, corel_items, corel_path
from imagesearch.scoring import registry
from imagesearch_client import Hit, ImageSearchClient, InsertItem


def search_all(client: ImageSearchClient, collection: str, indices, top_k: int = 10) -> dict[int, list[Hit]]:
    def one(i: int) -> list[Hit]:
        return client.search(collection, corel_path(i).read_bytes(), top_k=top_k)

    with ThreadPoolExecutor(8) as pool:
        return dict(zip(indices, pool.map(one, indices)))


def class_precision(query: int, hits: list[Hit]) -> float:
    return sum(h.metadata["class"] == query // 100 for h in hits) / len(hits)


@pytest.fixture(scope="module")
def corel(corel_collection: CorelIngest) -> str:
    return corel_collection.name


def test_all_images_stored(client: ImageSearchClient, corel: str) -> None:
    assert client.count_items(corel) == N_IMAGES
    info = client.get_collection(corel)
    assert info.item_count == N_IMAGES and info.dimension == 1280 and info.model_name
    assert info.id == corel and info.name == f"collections/{corel}" and info.create_time is not None


def test_precision_at_10_and_self_match(client: ImageSearchClient, corel: str) -> None:
    results = search_all(client, corel, range(N_IMAGES))
    precisions = [class_precision(q, hits) for q, hits in results.items()]
    mean_precision = sum(precisions) / len(precisions)
    print(f"\nCorel-1K class precision@10 over {N_IMAGES} queries: {mean_precision:.4f}")
    assert mean_precision >= 0.95
    for q, hits in results.items():
        assert len(hits) == 10
        assert [h.rank for h in hits] == list(range(1, 11))
        assert all(0.0 <= h.score <= 1.0 and -1.0 <= h.similarity <= 1.0 for h in hits), [
            (h.id, h.score, h.similarity) for h in hits
        ]
        # The score is calibrated (docs/quality.md, "Scores"); the query is stored, so the
        # first hit is its own exact copy.
        assert all(h.score_calibration == registry.current("offline").label for h in hits)
        assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
        assert hits[0].id == f"corel-{q}", f"query {q} found {hits[0].id} first"
        assert hits[0].score >= 0.99 and hits[0].near_duplicate, (q, hits[0].score)
        assert hits[0].metadata == {"class": q // 100, "file": f"{q}.jpg"}


def test_search_similar_excludes_the_query_item(client: ImageSearchClient, corel: str) -> None:
    hits = client.search_similar(corel, "corel-505", top_k=10)
    assert len(hits) == 10 and "corel-505" not in {h.id for h in hits}
    assert [h.rank for h in hits] == list(range(1, 11))
    assert class_precision(505, hits) >= 0.8
    with_self = client.search_similar(corel, "corel-505", top_k=10, include_query_item=True)
    assert with_self[0].id == "corel-505" and with_self[0].score >= 0.99
    assert [h.id for h in with_self[1:]] == [h.id for h in hits[:9]]


def test_min_score_cuts_the_tail(client: ImageSearchClient, corel: str) -> None:
    image = corel_path(300).read_bytes()
    all_hits = client.search(corel, image, top_k=100)
    cut = (all_hits[5].score + all_hits[6].score) / 2
    hits = client.search(corel, image, top_k=100, min_score=cut)
    assert [h.id for h in hits] == [h.id for h in all_hits[:6]]


def test_insert_replaces_existing_id(client: ImageSearchClient) -> None:
    name = "replace"
    client.create_collection(name)
    client.create_item(name, InsertItem(image=corel_path(400).read_bytes(), id="x", metadata={"v": 1}))
    client.create_item(name, InsertItem(image=corel_path(700).read_bytes(), id="x", metadata={"v": 2}))
    assert client.count_items(name) == 1
    hits = client.search(name, corel_path(700).read_bytes(), top_k=5)
    assert [(h.id, h.metadata) for h in hits] == [("x", {"v": 2})] and hits[0].score >= 0.99
    assert client.batch_delete_items(name, ["x", "y"]) == 1 and client.count_items(name) == 0


def test_server_made_ids(client: ImageSearchClient) -> None:
    name = "auto-ids"
    client.create_collection(name)
    first = client.create_item(name, InsertItem(image=corel_path(10).read_bytes())).id
    second = client.create_item(name, InsertItem(image=corel_path(11).read_bytes())).id
    assert first and second and first != second
    assert [i.id for i in client.batch_get_items(name, [first, second])] == [first, second]


def test_restart_keeps_data_and_results(server: ServerProcess, tmp_path) -> None:
    """A server on its own data dir (sharing the session's Triton) answers the same after a restart."""
    indices = [c * 100 + j for c in range(10) for j in range(30)]  # 300 images, 30 per class
    queries = indices[::15]
    own = ServerProcess(tmp_path / "restart", extra_args=["--triton-url", f"127.0.0.1:{server.triton_grpc_port}"])
    own.start()
    try:
        with own.client() as c:
            c.create_collection("persist")
            assert all(o.ok for o in c.import_items("persist", corel_items(indices), timeout=600))
            before = search_all(c, "persist", queries)
        assert own.stop() == 0
        own.start()
        with own.client() as c:
            assert c.count_items("persist") == len(indices)
            info = c.get_collection("persist")
            assert info.dimension == 1280
            after = search_all(c, "persist", queries)
    finally:
        own.stop()
    for q in queries:
        assert [h.id for h in after[q]] == [h.id for h in before[q]]
        assert [h.metadata for h in after[q]] == [h.metadata for h in before[q]]
        assert [round(h.score, 5) for h in after[q]] == [round(h.score, 5) for h in before[q]]


def test_text_search_quality(client: ImageSearchClient, corel: str) -> None:
    """Natural-language queries through the offline set (bench/text_quality.py): the
    issue's bar is mean precision@10 >= 0.9, below 0.85 on any set is a failure."""
    floors = {"A (plain)": 0.95, "B (paraphrased)": 0.88, "C (held out)": 0.95}
    for name, queries in QUERY_SETS.items():
        results = measure(client, corel, queries)
        p10, p50 = mean(r.p_at_10 for r in results), mean(r.p_at_50 for r in results)
        print(f"\ntext queries {name}: precision@10 {p10:.3f}, @50 {p50:.3f}")
        assert p10 >= floors[name], report(name, results)
    hits = client.search_text(corel, "a red double-decker bus", top_k=10)
    assert [h.rank for h in hits] == list(range(1, 11))
    assert all(0.0 < h.score <= 1.0 for h in hits) and all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert all(h.metadata["class"] == 3 for h in hits)
    # min_score cuts between two clearly different scores (float32 on the wire).
    gap = next(i for i in range(9) if hits[i].score - hits[i + 1].score > 1e-4)
    cut = client.search_text(
        corel, "a red double-decker bus", top_k=10, min_score=(hits[gap].score + hits[gap + 1].score) / 2
    )
    assert [h.id for h in cut] == [h.id for h in hits[: gap + 1]]


def test_collection_reports_its_model_set(client: ImageSearchClient, corel: str) -> None:
    info = client.get_collection(corel)
    assert info.model_set == "offline"
    assert info.spaces["image"] == ("efficientnet-lite0-imagenet", "1", 1280, False)
    assert info.spaces["text_image"][2:] == (384, True)

"""The calibrated score bands through the served API, on Corel classes the calibration was
not fitted on (bench/calibrate.py fits on classes 0, 2, 4, 6, 8): a small sample of the
bench's held-out measurement (docs/quality.md, "Scores"), in the session's Corel
collection. Plain queries: stored photos' neighbours ("more like this", no encode), and
edited copies (rotations among them) searched plainly and in the copies mode."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bench.calibrate import CAL_RECIPES, HELD_OUT_CLASSES, copy_query
from bench.text_quality import QUERY_SETS
from conftest import CorelIngest
from imagesearch.scoring import registry
from imagesearch_client import ImageSearchClient

# 10 photos per held-out class as "more like this" queries; 9 edited copies per class
# (even originals: their recipes cycle through all 16, rotations among them).
ORDINARY = [c * 100 + j for c in HELD_OUT_CLASSES for j in range(3, 100, 10)]
COPIES = [c * 100 + j for c in HELD_OUT_CLASSES for j in range(0, 100, 12)]


@pytest.fixture(scope="module")
def corel(corel_collection: CorelIngest) -> str:
    return corel_collection.name


def test_bands_on_held_out_classes(client: ImageSearchClient, corel: str) -> None:
    assert {r for r, _ in CAL_RECIPES} >= {("rot90",), ("rot180",), ("rot270",)}
    with ThreadPoolExecutor(4) as pool:
        ordinary = dict(zip(ORDINARY, pool.map(lambda i: client.search_similar(corel, f"corel-{i}"), ORDINARY)))
        queries = list(pool.map(copy_query, COPIES))
        plain = list(pool.map(lambda q: client.search(corel, q.data), queries))
        copies = list(pool.map(lambda q: client.search_copies(corel, q.data), queries))

    same = [h.score for i, hits in ordinary.items() for h in hits if h.metadata["class"] == i // 100]
    other = [h.score for i, hits in ordinary.items() for h in hits if h.metadata["class"] != i // 100]
    related = sum(0.7 <= s < 0.9 for s in same) / len(same)
    print(f"\nheld-out sample: same-class hits {len(same)}, in 0.7-0.9 {related:.3f}; other-class hits "
          f"{len(other)}, < 0.5: {sum(s < 0.5 for s in other)}")
    # The bench's held-out figures (all 500 queries): 0.739 in 0.7-0.9 with offline/v3's
    # consensus (0.64 with the cosine map alone); 99.0 % of the 102 other-class hits < 0.5.
    # This sample has ~10 other-class hits: a looser floor.
    assert related >= 0.65
    assert sum(s < 0.5 for s in other) >= 0.8 * len(other)
    assert all(h.score_calibration == registry.current("offline").label for hits in ordinary.values() for h in hits)

    def original_of(q, hits):
        return [h for h in hits if h.id == f"corel-{q.original}"]

    rotated = [k for k, q in enumerate(queries) if "rot" in q.recipe]
    unrotated = [k for k, q in enumerate(queries) if "rot" not in q.recipe]
    first = sum(copies[k][0].id == f"corel-{queries[k].original}" for k in range(len(queries))) / len(queries)
    scored = sum(bool(original_of(q, hits)) and original_of(q, hits)[0].score >= 0.9
                 for q, hits in zip(queries, copies)) / len(queries)
    plain_scored = sum(bool(original_of(queries[k], plain[k])) and original_of(queries[k], plain[k])[0].score >= 0.9
                       for k in unrotated) / len(unrotated)
    plain_first_rotated = sum(plain[k][0].id == f"corel-{queries[k].original}" for k in rotated) / len(rotated)
    non_copies = [h for q, hits in zip(queries, plain) for h in hits if h.id != f"corel-{q.original}"]
    false_dups = sum(h.score >= 0.9 for h in non_copies)
    print(f"edited copies ({len(queries)}, {len(rotated)} rotated): copies mode original first {first:.3f}, "
          f">= 0.9 {scored:.3f}; plain search, unrotated >= 0.9 {plain_scored:.3f}, rotated first "
          f"{plain_first_rotated:.3f}; other hits >= 0.9: {false_dups}/{len(non_copies)}")
    assert first >= 0.95 and scored >= 0.9
    assert plain_scored >= 0.9
    assert false_dups <= 0.02 * len(non_copies)


def test_text_bands_on_held_out_classes(client: ImageSearchClient, corel: str) -> None:
    """Text scores have their own bands and never reach the near-duplicate one."""
    queries = [(c, text) for queries in QUERY_SETS.values() for c, text in enumerate(queries) if c in HELD_OUT_CLASSES]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda q: client.search_text(corel, q[1], top_k=100), queries))
    label = registry.current("offline").label
    assert all(h.score < 0.9 and h.score_calibration == label for hits in results for h in hits)
    relevant = [h.score for (c, _), hits in zip(queries, results) for h in hits[:10] if h.metadata["class"] == c]
    other = [h.score for (c, _), hits in zip(queries, results) for h in hits if h.metadata["class"] != c]
    share = sum(s >= 0.7 for s in relevant) / len(relevant)
    noise = sum(s < 0.5 for s in other) / len(other)
    print(f"\ntext, held-out classes: {len(relevant)} relevant top-10 hits, >= 0.7: {share:.3f}; "
          f"{len(other)} irrelevant top-100 hits, < 0.5: {noise:.3f}")
    # bench/text_norm.py on the same queries: 0.964 (140 hits); irrelevant < 0.5: 0.858 with
    # offline/v2's below-best map (0.296 with v1's fused-score map alone).
    assert share >= 0.9
    assert noise >= 0.75

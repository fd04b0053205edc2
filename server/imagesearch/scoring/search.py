"""Image search with calibrated scores, and its copies mode (the query in four rotations).

Per search, the copy check runs on at most `copies.candidates` top hits with a cosine of
at least `copies.min_similarity`: the query's fingerprint (~1 ms), their stored
fingerprints (one store read) and one thumbnail alignment each (1-8 ms). From offline/v3
the same store read also brings the stored vectors of the query's neighbourhood and of the
hits returned, for their consensus (scoring/neighbourhood.py). That image work
runs on the API process's decode pool (decode_pool.py), under its server-wide cap, like the
inserts' fingerprints. docs/quality.md gives the measured cost.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Awaitable, Callable, Sequence

import numpy as np

from imagesearch.decode_pool import DecodePool
from imagesearch.dedup.fingerprint import Fingerprint, fingerprint
from imagesearch.scoring.neighbourhood import consensus
from imagesearch.scoring.orientations import rotated_queries, turned
from imagesearch.scoring.scorer import Scorer
from imagesearch.store.base import ScoredHit, StoredPoint, VectorStore
from imagesearch.store.filters import Filter

Embed = Callable[[bytes], Awaitable[np.ndarray]]


@dataclass(frozen=True)
class ScoredResult:
    """A hit with its calibrated score (in `hit.score`), raw cosine (`hit.similarity`),
    the quarter turns of the query that matched it, and whether copy evidence lifted it."""

    hit: ScoredHit
    turns: int
    copy: bool


@dataclass(frozen=True)
class ImageQuery:
    """What is searched: the query's bytes (for its fingerprint and rotations) or, for a
    stored item, its vector and stored fingerprint."""

    data: bytes | None = None
    vector: np.ndarray | None = None
    fingerprint: Fingerprint | None = None
    exclude_id: str | None = None


async def query_vectors(query: ImageQuery, embed: Embed, copies: bool, decode: DecodePool) -> dict[int, np.ndarray]:
    """The query's vector per quarter turn: 0 only, or 0-3 in copies mode (the turned
    images made on `decode`)."""
    if query.vector is not None:
        return {0: query.vector}
    assert query.data is not None
    if not copies:
        return {0: await embed(query.data)}
    turns = await decode.run(rotated_queries, query.data)
    vectors = await asyncio.gather(embed(query.data), *(embed(turns[t]) for t in sorted(turns)))
    return dict(zip((0, *sorted(turns)), vectors))


async def scored_search(
    store: VectorStore, collection: str, space: str, scorer: Scorer, query: ImageQuery, vectors: dict[int, np.ndarray],
    limit: int, min_score: float, decode: DecodePool, flt: Filter | None = None,
) -> list[ScoredResult]:
    """The `limit` best hits by calibrated score (ties by cosine), each >= min_score: the
    best by cosine, in that order but for copies lifted by their evidence (Scorer.ranked_scores).

    The store is asked for cosines >= min(min_cosine(min_score), copy candidate floor):
    if any hit fetched is then dropped (below min_score, not lifted), every hit above
    min_cosine was already among those fetched, so the cut is exact. With a consensus map
    (offline/v3) there is no cosine floor, and at least the neighbourhood's k hits are
    fetched, so a hit's score is the same whatever the limit and min_score."""
    floor = scorer.min_cosine(min_score) if min_score > 0 else -1.0
    if scorer.candidates:
        floor = min(floor, scorer.min_similarity)
    hood = scorer.neighbourhood
    fetch = max(limit, hood.k if hood else 0) + (1 if query.exclude_id else 0)
    per_turn = await asyncio.gather(
        *(store.search(collection, v, fetch, max(floor, 0.0), space, flt=flt) for v in vectors.values())
    )
    best: dict[str, tuple[ScoredHit, int]] = {}
    for turns, hits in zip(vectors, per_turn):
        for hit in hits:
            if hit.id != query.exclude_id and (hit.id not in best or hit.similarity > best[hit.id][0].similarity):
                best[hit.id] = (hit, turns)
    by_cosine = sorted(best.values(), key=lambda pair: -pair[0].similarity)
    ranked = by_cosine[:limit]
    candidates = [(h, t) for h, t in ranked[: scorer.candidates] if h.similarity >= scorer.min_similarity]
    wanted = [h.id for h, _ in (by_cosine[: max(limit, hood.k)] if hood else candidates)]
    stored = {p.id: p for p in await store.get(collection, wanted, with_vectors=True)} if wanted else {}
    agreement = {}
    if hood:
        stored_vectors = {i: p.vectors[space] for i, p in stored.items() if p.vectors and space in p.vectors}
        order = [h.id for h, _ in by_cosine]
        agreement = consensus(order, stored_vectors, hood.k, [h.id for h, _ in ranked])
    lifted = await _copy_scores(scorer, query, candidates, stored, decode)
    scores = scorer.ranked_scores(
        [h.similarity for h, _ in ranked], [lifted.get(h.id) for h, _ in ranked], [agreement.get(h.id) for h, _ in ranked]
    )
    results = []
    for (hit, turns), score in zip(ranked, scores):
        rule_score = lifted.get(hit.id)
        copy = rule_score is not None and scorer.copy_lift(rule_score) is not None
        results.append(ScoredResult(replace(hit, score=score), turns, copy))
    results.sort(key=lambda r: (-r.hit.score, -r.hit.similarity))
    return [r for r in results if r.hit.score >= min_score][:limit]


async def _copy_scores(
    scorer: Scorer, query: ImageQuery, candidates: Sequence[tuple[ScoredHit, int]], stored: dict[str, StoredPoint],
    decode: DecodePool,
) -> dict[str, float]:
    """The duplicate rule's score for each copy candidate among the top hits."""
    if not candidates:
        return {}
    own = query.fingerprint
    if own is None and query.data is not None:
        own = await decode.run(fingerprint, query.data)
    if own is None:
        return {}

    def judge(hit: ScoredHit, turns: int) -> float | None:
        point = stored.get(hit.id)
        if point is None or not point.fingerprint:
            return None
        return scorer.rule_score(turned(own, turns), Fingerprint.from_payload(point.fingerprint), hit.similarity)

    scores = await asyncio.gather(*(decode.run(judge, h, t) for h, t in candidates))
    return {h.id: s for (h, _), s in zip(candidates, scores) if s is not None}

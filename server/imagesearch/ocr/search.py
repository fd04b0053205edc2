"""OCR text search over a store: the engine's n-gram filter picks candidates, Python verifies and scores.

Two uses, both for the lead's RPCs:
- search_text: the `image_text` query kind: every point whose lines match, best score first;
- verified_search / verified_vector_search: an image, text-to-image or stored-item search
  restricted to points whose lines match (SearchItemsRequest.image_text_filter; the n-gram
  filter runs in the engine, during the vector search; hits whose grams passed but whose
  text does not match are dropped here, over-fetching to fill `limit`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import numpy as np

from imagesearch.ocr.grams import candidate_filter
from imagesearch.ocr.matching import MATCH_THRESHOLD, TextMatch, match_lines
from imagesearch.ocr.query import TextQuery
from imagesearch.store.base import ScoredHit, VectorStore
from imagesearch.store.filters import Filter

# Candidates read per engine page; each costs a payload read plus a Python match (~50 us).
PAGE_SIZE = 512
MAX_SEARCH_LIMIT = 1000


@dataclass(frozen=True)
class TextHit:
    """A point whose OCR lines match the query: its id, metadata, score (0..1) and matched lines."""

    id: str
    score: float
    metadata: dict[str, Any]
    match: TextMatch


@dataclass(frozen=True)
class VerifiedHit:
    """A vector-search hit whose OCR lines also match the text condition."""

    hit: ScoredHit
    match: TextMatch


def combined_filter(query: TextQuery, flt: Filter | None) -> Filter:
    """The caller's filter (if any) and the query's n-gram condition, both required."""
    grams = candidate_filter(query)
    return grams if flt is None else Filter(must=(flt, grams))


async def search_text(
    store: VectorStore,
    collection: str,
    query: TextQuery,
    limit: int,
    min_score: float = MATCH_THRESHOLD,
    flt: Filter | None = None,
) -> list[TextHit]:
    """The `limit` best points whose lines match `query` (score >= min_score), best first.

    Every candidate the engine returns is verified, so the result is exact, not a sample;
    ties are broken by id for a stable order. Raises ValueError for a limit outside 1-1000.
    """
    if not 0 < limit <= MAX_SEARCH_LIMIT:
        raise ValueError(f"limit must be 1-{MAX_SEARCH_LIMIT}")
    hits: list[TextHit] = []
    offset: str | None = None
    engine_filter = combined_filter(query, flt)
    while True:
        points, offset = await store.filtered_points(collection, engine_filter, offset, PAGE_SIZE)
        for point in points:
            match = match_lines(query, point.ocr_lines or ())
            if match is not None and match.score >= min_score:
                hits.append(TextHit(point.id, match.score, point.metadata, match))
        if offset is None:
            break
    hits.sort(key=lambda hit: (-hit.score, hit.id))
    return hits[:limit]


async def verified_vector_search(
    store: VectorStore,
    collection: str,
    vector: np.ndarray,
    query: TextQuery,
    limit: int,
    min_score: float = 0.0,
    space: str | None = None,
    flt: Filter | None = None,
) -> list[VerifiedHit]:
    """The `limit` nearest points (vector score order) whose lines match `query`."""

    async def nearest(fetch: int, engine_filter: Filter) -> list[ScoredHit]:
        return await store.search(collection, vector, fetch, min_score, space=space, flt=engine_filter)

    return await verified_search(store, collection, query, limit, nearest, flt)


async def verified_search(
    store: VectorStore,
    collection: str,
    query: TextQuery,
    limit: int,
    run: Callable[[int, Filter], Awaitable[list[ScoredHit]]],
    flt: Filter | None = None,
) -> list[VerifiedHit]:
    """The first `limit` hits of any search `run(fetch, engine_filter)` whose lines match `query`.

    `run` is an image, text-to-image or stored-item search that applies `engine_filter`
    (the caller's filter and the query's n-gram condition) in the engine. Asks it for 4x
    `limit` hits, keeps those whose text matches, and asks again with twice as many (up to
    1000) while too few were kept and the engine still had more. Hits that come without
    their lines (re-ranked ones) have them read from the store.
    """
    engine_filter = combined_filter(query, flt)
    fetch = min(MAX_SEARCH_LIMIT, 4 * limit)
    while True:
        hits = await run(fetch, engine_filter)
        lines = await _lines_of(store, collection, hits)
        kept = []
        for hit in hits:
            match = match_lines(query, lines.get(hit.id) or ())
            if match is not None:
                kept.append(VerifiedHit(hit, match))
        if len(kept) >= limit or len(hits) < fetch or fetch == MAX_SEARCH_LIMIT:
            return kept[:limit]
        fetch = min(MAX_SEARCH_LIMIT, fetch * 2)


async def _lines_of(store: VectorStore, collection: str, hits: list[ScoredHit]) -> dict[str, tuple]:
    """Each hit's OCR lines, read from the store for hits that carry none."""
    lines = {hit.id: hit.ocr_lines for hit in hits if hit.ocr_lines is not None}
    missing = [hit.id for hit in hits if hit.ocr_lines is None]
    if missing:
        lines.update({point.id: point.ocr_lines or () for point in await store.get(collection, missing)})
    return lines

"""Text search with pseudo-relevance feedback through the image-similarity space.

A text-image match is coarse (for the offline set it goes through 1,000 ImageNet
classes), while image-to-image similarity is sharp (~0.97 class precision@10 on
Corel-1K). So a text query first finds its best few matches, then every candidate is
scored by

    (text score + weight * cosine(candidate's image vector, centroid of those few)) / (1 + weight)

which keeps scores in 0..1 and promotes images that look like the best text matches.
Measured on Corel-1K (docs/quality.md): precision@10 0.94 -> 0.99 on plain queries and
0.87 -> 0.90 on paraphrased ones, with the same query sets and a held-out third set.
When the first matches are wrong, feedback cannot repair them; it does not make them
worse either, since the text score keeps half the weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imagesearch.store.base import ScoredHit, VectorStore
from imagesearch.store.filters import Filter

MAX_CANDIDATES = 1000


@dataclass(frozen=True)
class Feedback:
    """How many first matches form the centroid, and its weight against the text score."""

    seeds: int = 5
    weight: float = 1.0
    # Candidates from each of the two searches: enough that the fused top `limit` is the
    # same as a full re-ranking would give, at any limit up to 1000.
    min_candidates: int = 100


async def search_with_feedback(
    store: VectorStore,
    collection: str,
    text_vector: np.ndarray,
    text_space: str,
    image_space: str,
    limit: int,
    min_score: float,
    feedback: Feedback = Feedback(),
    flt: Filter | None = None,
) -> list[ScoredHit]:
    """The `limit` best hits for a text vector, re-ranked with image-space feedback; both
    searches only see items passing `flt`."""
    candidates = min(MAX_CANDIDATES, max(2 * limit, feedback.min_candidates))
    text_hits = await store.search(collection, text_vector, candidates, 0.0, text_space, flt=flt)
    seeds = [hit.id for hit in text_hits[: feedback.seeds]]
    if not seeds:
        return []
    seed_vectors = [p.vectors[image_space] for p in await store.get(collection, seeds, with_vectors=True)]
    centroid = np.mean(seed_vectors, axis=0)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    image_hits = await store.search(collection, centroid, candidates, 0.0, image_space, flt=flt)

    # Every candidate needs both scores; a candidate found by one search only gets its
    # other score computed from its stored vectors.
    text_scores = {h.id: h.score for h in text_hits}
    text_similarities = {h.id: h.similarity for h in text_hits}
    image_scores = {h.id: h.score for h in image_hits}
    metadata = {h.id: h.metadata for h in (*text_hits, *image_hits)}
    nsfw_scores = {h.id: h.nsfw_score for h in (*text_hits, *image_hits)}
    missing = [i for i in metadata if i not in text_scores or i not in image_scores]
    for point in await store.get(collection, missing, with_vectors=True) if missing else []:
        if point.id not in text_scores:
            text_similarities[point.id] = _raw_cosine(point.vectors[text_space], text_vector)
            text_scores[point.id] = min(max(text_similarities[point.id], 0.0), 1.0)
        if point.id not in image_scores:
            image_scores[point.id] = _cosine(point.vectors[image_space], centroid)
    fused = [
        ScoredHit(
            id=i,
            score=(text_scores[i] + feedback.weight * image_scores[i]) / (1.0 + feedback.weight),
            metadata=metadata[i],
            nsfw_score=nsfw_scores[i],
            similarity=text_similarities[i],
        )
        for i in metadata
        if i in text_scores and i in image_scores  # both known unless deleted meanwhile
    ]
    fused.sort(key=lambda h: (-h.score, h.id))
    return [h for h in fused if h.score >= min_score][:limit]


def _raw_cosine(vector: np.ndarray, unit: np.ndarray) -> float:
    """Cosine of a stored vector with a unit vector, -1..1."""
    return float(np.dot(vector, unit) / max(float(np.linalg.norm(vector)), 1e-12))


def _cosine(vector: np.ndarray, unit: np.ndarray) -> float:
    """Cosine of a stored vector with a unit vector, clamped to 0..1 like the store's scores."""
    return min(max(_raw_cosine(vector, unit), 0.0), 1.0)

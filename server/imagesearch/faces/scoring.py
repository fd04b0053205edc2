"""Face scores: dlib's Euclidean distance between 128-d embeddings, mapped onto 0..1.

dlib's ResNet was trained so that two faces of one person are at distance < 0.6 (99.38%
on LFW by its author). On the project's five-person set the same person measured
0.34-0.44 and different people 0.77-1.02 (docs/quality.md).

score = 1 - distance / 1.2, clamped to 0..1: distance 0 -> 1, the 0.6 threshold -> 0.5,
1.2 and beyond -> 0. So SAME_PERSON_SCORE = 0.5 is the documented "same person" line.

The store keeps vectors in a cosine space (the engine normalises them) and each face's
norm in its payload; the exact Euclidean distance follows from the cosine and the two
norms: d^2 = |q|^2 + |x|^2 - 2 |q| |x| cos. No vector has to be read back to score.
"""

from __future__ import annotations

import math

SAME_PERSON_DISTANCE = 0.6
ZERO_SCORE_DISTANCE = 2 * SAME_PERSON_DISTANCE
SAME_PERSON_SCORE = 1.0 - SAME_PERSON_DISTANCE / ZERO_SCORE_DISTANCE  # 0.5


def distance_to_score(distance: float) -> float:
    """0..1, higher is more alike; > SAME_PERSON_SCORE means the same person."""
    return min(max(1.0 - distance / ZERO_SCORE_DISTANCE, 0.0), 1.0)


def score_to_distance(score: float) -> float:
    """The largest distance that still reaches `score` (inverse of distance_to_score on 0..1)."""
    return (1.0 - score) * ZERO_SCORE_DISTANCE


def distance_from_cosine(cosine: float, norm_a: float, norm_b: float) -> float:
    """Euclidean distance of two vectors from their cosine similarity and their norms."""
    squared = norm_a * norm_a + norm_b * norm_b - 2.0 * norm_a * norm_b * cosine
    return math.sqrt(max(squared, 0.0))

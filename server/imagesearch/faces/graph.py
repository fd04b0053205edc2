"""The same-person graph of a set of face embeddings, computed exactly with NumPy.

Blocks of rows against all faces keep memory at block x n distances; each face keeps at
most `max_neighbours` nearest neighbours under the threshold. Cost grows with n^2: about
n^2 x 128 multiply-adds (100k faces: ~1.3 TFLOP, tens of seconds on two cores), which is
why reclustering is periodic or on demand, never per insert (bench/faces.py measures it).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imagesearch.faces.scoring import SAME_PERSON_DISTANCE

BLOCK = 1024


def same_person_edges(
    ids: Sequence[str],
    embeddings: np.ndarray,
    threshold: float = SAME_PERSON_DISTANCE,
    max_neighbours: int = 32,
) -> list[tuple[str, str, float]]:
    """Pairs (a, b, weight) of faces closer than `threshold`, each face with at most
    `max_neighbours` of its nearest ones; weight = 1 - distance / threshold, so a pair
    at the threshold weighs nothing and identical faces weigh 1."""
    vectors = np.asarray(embeddings, np.float64)
    squared = np.einsum("ij,ij->i", vectors, vectors)
    edges: list[tuple[str, str, float]] = []
    for start in range(0, len(ids), BLOCK):
        block = vectors[start : start + BLOCK]
        distances = squared[start : start + BLOCK, None] + squared[None, :] - 2.0 * block @ vectors.T
        np.sqrt(np.maximum(distances, 0.0), out=distances)
        for row, i in enumerate(range(start, start + len(block))):
            distances[row, i] = np.inf
            close = np.flatnonzero(distances[row] < threshold)
            if len(close) > max_neighbours:
                close = close[np.argsort(distances[row, close], kind="stable")[:max_neighbours]]
            edges.extend((ids[i], ids[j], 1.0 - float(distances[row, j]) / threshold) for j in close)
    return edges

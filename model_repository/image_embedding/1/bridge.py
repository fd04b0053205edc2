"""The text-image bridge: ImageNet class probabilities -> a vector in MiniLM's text space.

An image's text-image vector is normalise(sum over its `top_k` most probable classes of
p_c * E_c), where p = softmax(logits / temperature) and E_c is the unit MiniLM embedding
of class c's prompted name (class_text_embeddings.npy, written at set-up). A text query
embedded by MiniLM is then compared with it by cosine. Why this variant, and where it is
weak: docs/quality.md.

Pure NumPy, no Triton imports, so tests and measurements run it in-process.
"""

from __future__ import annotations

import numpy as np


def class_probabilities(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Row-wise softmax(logits / temperature), computed stably in float64."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    weights = np.exp(scaled)
    return weights / weights.sum(axis=1, keepdims=True)


def text_image_vectors(
    logits: np.ndarray, class_matrix: np.ndarray, top_k: int, temperature: float
) -> np.ndarray:
    """[N, D] unit vectors from [N, C] logits and the [C, D] class-name matrix.

    Keeping only the top classes drops the long tail of tiny probabilities, which
    otherwise adds up to a generic "average ImageNet class" direction shared by all images.
    """
    probabilities = class_probabilities(logits, temperature)
    if 0 < top_k < probabilities.shape[1]:
        cut = np.argpartition(-probabilities, top_k - 1, axis=1)[:, top_k:]
        np.put_along_axis(probabilities, cut, 0.0, axis=1)
    vectors = probabilities @ np.asarray(class_matrix, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

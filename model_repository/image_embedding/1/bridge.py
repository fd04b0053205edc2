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
    count, classes = probabilities.shape
    if 0 < top_k < classes:
        top = np.argpartition(-probabilities, top_k - 1, axis=1)[:, :top_k]
    else:
        top = np.broadcast_to(np.arange(classes), (count, classes))
    # Only the kept classes' rows are gathered and summed: a dense [N, C] @ [C, D] product
    # of mostly zeros, in float64 through a multithreaded BLAS, was 19% of the stub's CPU
    # per image (py-spy, Corel, batches of ~4), a third of it BLAS threads spinning.
    weights = np.take_along_axis(probabilities, top, axis=1)
    rows = np.asarray(class_matrix)[top].astype(np.float64)
    vectors = np.einsum("nk,nkd->nd", weights, rows)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

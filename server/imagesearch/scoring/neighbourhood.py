"""An image hit's consensus with the query's neighbourhood (offline/v3 on).

The cosine alone cannot tell a weak hit of the query's class from the strongest hits of
another class (docs/quality.md, "Scores": 28.7 % of held-out same-class top-10 hits had
a cosine below the 99 %-of-other-class edge). What does tell them apart, without another
model run: a same-class hit resembles the query's other neighbours, an other-class hit
much less. So a hit's consensus is its mean cosine (stored vectors) to the members of the
query's neighbourhood (its k best hits by cosine) other than itself; the score maps the
blend of cosine and consensus (calibration.Neighbourhood).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def consensus(
    order: Sequence[str], vectors: Mapping[str, np.ndarray], k: int, scored: Sequence[str]
) -> dict[str, float]:
    """Each id in `scored`'s mean cosine to the first `k` ids of `order` (the query's hits
    by cosine, best first) other than itself. Ids without a vector, or with no other
    member to compare with (a collection of one or two items), are left out: they score
    by the cosine alone."""
    members = [i for i in order[:k] if i in vectors]
    if not members:
        return {}
    hits = [hit for hit in scored if hit in vectors]
    if not hits:
        return {}
    hood = np.stack([vectors[i] for i in members]).astype(np.float32)
    # One einsum for all hits, not a BLAS product per hit: OpenBLAS split each small
    # product over two threads that then spun, 1.1-1.5 ms of process CPU for 20 hits
    # against 0.1 ms here (in-process, AMD EPYC, 10 x 1280 neighbourhood); the cosines
    # differ by < 1e-7.
    sims = np.einsum("ij,kj->ki", hood, np.stack([vectors[h] for h in hits]).astype(np.float32))
    out = {}
    for hit, row in zip(hits, sims):
        others = [s for m, s in zip(members, row) if m != hit]
        if others:
            out[hit] = float(np.mean(others))
    return out

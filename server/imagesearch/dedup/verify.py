"""Is one image an edited copy of another? Align their thumbnails and correlate.

An edited copy (crop, resize, brightness, mirror, re-encoding) is the other image's
pixels, up to a crop window and a linear brightness change. So: slide the smaller-content
thumbnail, scaled to each plausible crop size and mirrored or not, over the other, and
take the best normalised cross-correlation (invariant to brightness and contrast). Two
different photos of the same scene differ in parallax and detail and score lower.

Coarse to fine: a 32x32 search over crop sizes of 60-100 % per side (steps of 10 %),
mirrored or not; pairs that already fail there stop (most candidates); then +-5 % around
the best at 64x64 (steps of 5 %) and +-2.5 % at 128x128 (steps of 2.5 %). Both
directions are tried, since either image may be the crop of the other. OpenCV releases
the GIL, so the callers run this in worker threads.
"""

from __future__ import annotations

import cv2
import numpy as np

COARSE = 32
COARSE_FRACTIONS = np.arange(0.6, 1.001, 0.1)
# (size, steps around the previous level's best crop fractions)
REFINEMENTS = ((64, np.arange(-0.05, 0.051, 0.05)), (128, np.arange(-0.025, 0.026, 0.025)))
MIN_FRACTION = 0.5
# Below this coarse score a pair is not refined: the refined score is never much higher.
REFINE_FROM = 0.6


def _best(small: np.ndarray, big: np.ndarray, xs, ys, flips) -> tuple[float, tuple[bool, float, float]]:
    size = big.shape[0]
    best = (-1.0, (False, 1.0, 1.0))
    for flip in flips:
        query = small[:, ::-1] if flip else small
        for fx in xs:
            for fy in ys:
                w, h = int(round(size * fx)), int(round(size * fy))
                if not (0 < w <= size and 0 < h <= size):
                    continue
                template = cv2.resize(query, (w, h), interpolation=cv2.INTER_AREA)
                if template.std() < 1e-3:
                    continue  # a flat template correlates with nothing
                score = float(cv2.matchTemplate(big, template, cv2.TM_CCOEFF_NORMED).max())
                if score > best[0]:
                    best = (score, (flip, fx, fy))
    return best


def _scaled(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def _contained(small: np.ndarray, big: np.ndarray) -> float:
    """How well `small` (full frame) matches a crop window of `big`, both THUMB_SIZE squares."""
    score, (flip, fx, fy) = _best(
        _scaled(small, COARSE), _scaled(big, COARSE), COARSE_FRACTIONS, COARSE_FRACTIONS, (False, True)
    )
    if score < REFINE_FROM:
        return score
    for size, steps in REFINEMENTS:
        xs = np.clip(fx + steps, MIN_FRACTION, 1.0)
        ys = np.clip(fy + steps, MIN_FRACTION, 1.0)
        score, (flip, fx, fy) = _best(_scaled(small, size), _scaled(big, size), xs, ys, (flip,))
    return score


def copy_score(a: np.ndarray, b: np.ndarray) -> float:
    """0..1 (clamped): how surely one thumbnail is an edited copy of the other."""
    return max(0.0, min(1.0, max(_contained(a, b), _contained(b, a))))

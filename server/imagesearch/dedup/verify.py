"""Is one image an edited copy of another? Align their thumbnails and correlate.

An edited copy (crop, resize, brightness, mirror, re-encoding) is the other image's
pixels, up to a crop window and a linear brightness change. So: slide the smaller-content
thumbnail, scaled to each plausible crop size and mirrored or not, over the other, and
take the best normalised cross-correlation (invariant to brightness and contrast). Two
different photos of the same scene differ in parallax and detail and score lower.

Coarse to fine: a 32x32 search over crop sizes of 60-100 % per side (steps of 10 %),
mirrored or not; pairs that already fail there stop (most candidates); then +-5 % around
the best at 64x64 (steps of 5 %) and +-2.5 % at 128x128 (steps of 2.5 %), each level
searched near twice the previous level's best position only (REFINE_RADIUS), and a
direction far below the needed score at 64x64 not taken to 128x128. Both directions are
tried, since either image may be the crop of the other. OpenCV releases the GIL, so the
callers run this in worker threads.

An insert compares its image with several candidates, so each image's scaled levels and
coarse templates are computed once (`AlignableThumb`) and reused for every pair: the
coarse search, run for every candidate, is then one `matchTemplate` per window.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

COARSE = 32
COARSE_FRACTIONS = np.arange(0.6, 1.001, 0.1)
# (size, steps around the previous level's best crop fractions)
REFINEMENTS = ((64, np.arange(-0.05, 0.051, 0.05)), (128, np.arange(-0.025, 0.026, 0.025)))
MIN_FRACTION = 0.5
# Below this coarse score a pair is not refined: the refined score is never much higher.
REFINE_FROM = 0.6
# Refinement raised a candidate pair's coarse score by at most 0.126 (median -0.06) over the
# 1,566 pairs refined in a Corel-1K ingest plus bench.duplicates' 300 edited copies (every true
# copy's coarse score was >= 0.81); a direction this far below the score a caller needs cannot
# reach it, and is not refined. 0.15 (was 0.2): 1,100 instead of 1,600 directions refined in
# `bench.ingest_cpu`'s 1,300 inserts, at 2.7 ms each; same recall and flags.
MAX_REFINE_GAIN = 0.15
# The coarse search first tries the windows whose sides are 60, 80 or 100 % (18 of 50 with
# both mirrors): over the 8,280 directions aligned in `bench.ingest_cpu`'s 1,300 inserts (the
# 300 edited copies included) the full grid's best beat theirs by at most 0.288 wherever the
# full grid reached 0.6 (99 %: 0.12). A direction whose sparse best is more than
# MAX_SPARSE_GAP below the refinement floor cannot reach that floor, so its other 32 windows
# are not tried (43 % of directions at the floor of a 0.90 check; true copies' sparse best
# was >= 0.559 against the 0.45 cut-off).
SPARSE_FRACTIONS = (0.6, 0.8, 1.0)
MAX_SPARSE_GAP = 0.3
# Refinement tries each window only within this many pixels (each axis) of the previous
# level's best position scaled to the level (twice it), not over the whole thumbnail (at
# 128x128 a 60 % window has 2,704 positions, 289 within 8). Over the 1,100 directions refined in `bench.ingest_cpu`'s
# 1,300 inserts and 300 searches, the best position moved at most 3 pixels from twice the
# previous one wherever the direction reached the needed score (99 % of all: 5 at 64x64, 7
# at 128x128); where it moves further the direction scores lower than a whole-image search
# would, and those were all directions far below the needed score.
REFINE_RADIUS = 8
# 128x128 raised a refined direction's 64x64 score by at most 0.103 over those 1,100
# directions (99 %: 0.035); every direction that reached the needed score (0.90) had
# 0.867 or more at 64x64. A direction this far below the needed score at 64x64 stops
# there (363 of the 1,100).
MAX_FINE_GAIN = 0.15
# A template this flat (grey-level standard deviation) correlates with nothing.
MIN_TEMPLATE_STD = 1e-3

Window = tuple[bool, float, float]  # mirrored, width fraction, height fraction


@dataclass(frozen=True)
class AlignableThumb:
    """A grey thumbnail prepared for alignment: its scaled levels (by size) and its non-flat
    coarse templates, one per window: the sparse grid's at once, the others when first
    needed (most candidate pairs stop at the sparse grid)."""

    levels: dict[int, np.ndarray]
    sparse_templates: tuple[tuple[Window, np.ndarray], ...]

    @classmethod
    def of(cls, thumb: np.ndarray) -> "AlignableThumb":
        """Prepare a square uint8 thumbnail (THUMB_SIZE)."""
        levels = {size: _scaled(thumb, size) for size in {COARSE, *(size for size, _ in REFINEMENTS)}}
        return cls(levels=levels, sparse_templates=_templates(levels[COARSE], sparse=True))

    @cached_property
    def other_templates(self) -> tuple[tuple[Window, np.ndarray], ...]:
        """The coarse templates of the windows off the sparse grid."""
        return _templates(self.levels[COARSE], sparse=False)


def _on_sparse_grid(fraction: float) -> bool:
    return any(abs(fraction - f) < 1e-6 for f in SPARSE_FRACTIONS)


# The coarse grid's (width, height) fractions, on the sparse grid or off it, in grid order.
_GRID = {
    sparse: tuple(
        (float(fx), float(fy))
        for fx in COARSE_FRACTIONS
        for fy in COARSE_FRACTIONS
        if (_on_sparse_grid(fx) and _on_sparse_grid(fy)) == sparse
    )
    for sparse in (True, False)
}


def _templates(coarse: np.ndarray, sparse: bool) -> tuple[tuple[Window, np.ndarray], ...]:
    """The non-flat templates of the windows on (or off) the sparse grid, in grid order
    (the upright ones, then the mirrored)."""
    upright = [((False, fx, fy), t) for fx, fy in _GRID[sparse] if (t := _template(coarse, (False, fx, fy))) is not None]
    mirrored = [((True, fx, fy), _mirrored(t)) for (_, fx, fy), t in upright]
    return tuple(upright + mirrored)


def _mirrored(template: np.ndarray) -> np.ndarray:
    """A template of the mirrored image: the template mirrored. INTER_AREA's weights are
    symmetric, so this is bit-identical to scaling the mirrored image (checked on all 1.7M
    scalings of the 1,297 thumbnails of a `bench.ingest_cpu` run, every size from 50 to
    100 % at 32, 64 and 128) and costs a copy instead of a resize and a flatness test."""
    return np.ascontiguousarray(template[:, ::-1])


def _template(image: np.ndarray, window: Window) -> np.ndarray | None:
    """`image` mirrored if asked and scaled to the window's share of its own size; None
    when that is empty or flat."""
    flip, fx, fy = window
    size = image.shape[0]
    w, h = int(round(size * fx)), int(round(size * fy))
    if not (0 < w <= size and 0 < h <= size):
        return None
    template = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
    if cv2.meanStdDev(template)[1][0, 0] < MIN_TEMPLATE_STD:
        return None
    return _mirrored(template) if flip else template


Location = tuple[int, int]  # x, y of a template's top-left corner in the image it was matched on


def _match(big: np.ndarray, template: np.ndarray) -> tuple[float, Location]:
    _, score, _, location = cv2.minMaxLoc(cv2.matchTemplate(big, template, cv2.TM_CCOEFF_NORMED))
    return float(score), location


def _best(candidates, big: np.ndarray, near: Location | None = None) -> tuple[float, Window, Location]:
    """The best window of `candidates` on `big` and where it lies; with `near`, only
    positions within REFINE_RADIUS of it (each axis) are tried."""
    best = (-1.0, (False, 1.0, 1.0), (0, 0))
    for window, template in candidates:
        if near is None:
            score, location = _match(big, template)
        else:
            score, location = _match_near(big, template, near)
        if score > best[0]:
            best = (score, window, location)
    return best


def _match_near(big: np.ndarray, template: np.ndarray, near: Location) -> tuple[float, Location]:
    """_match over the positions within REFINE_RADIUS of `near` only (a crop of `big`)."""
    (height, width), (h, w) = big.shape, template.shape
    x0 = min(max(0, near[0] - REFINE_RADIUS), width - w)
    y0 = min(max(0, near[1] - REFINE_RADIUS), height - h)
    x1 = min(width - w, near[0] + REFINE_RADIUS)
    y1 = min(height - h, near[1] + REFINE_RADIUS)
    score, (x, y) = _match(big[y0 : max(y0, y1) + h, x0 : max(x0, x1) + w], template)
    return score, (x + x0, y + y0)


def _scaled(image: np.ndarray, size: int) -> np.ndarray:
    if image.shape[0] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


Match = tuple[float, Window, Location]


def _coarse(small: AlignableThumb, big: AlignableThumb, floor: float) -> Match:
    """How well `small` (full frame) matches a crop window of `big` at COARSE size, and where;
    below `floor`, possibly lower than the full grid would give (MAX_SPARSE_GAP)."""
    sparse = _best(small.sparse_templates, big.levels[COARSE])
    if sparse[0] < floor - MAX_SPARSE_GAP:
        return sparse
    other = _best(small.other_templates, big.levels[COARSE])
    return other if other[0] > sparse[0] else sparse


def _refined(small: AlignableThumb, big: AlignableThumb, coarse: Match, needed: float | None) -> float:
    """The coarse match refined at 64x64 and 128x128 around its window and position; the
    64x64 score when that is more than MAX_FINE_GAIN below `needed`."""
    score, (flip, fx, fy), (x, y) = coarse
    previous = COARSE
    for size, steps in REFINEMENTS:
        if size == REFINEMENTS[-1][0] and needed is not None and score < needed - MAX_FINE_GAIN:
            return score
        near, previous = (x * size // previous, y * size // previous), size
        windows = [
            (flip, float(wx), float(wy))
            for wx in np.clip(fx + steps, MIN_FRACTION, 1.0)
            for wy in np.clip(fy + steps, MIN_FRACTION, 1.0)
        ]
        query = small.levels[size]
        candidates = [(w, t) for w in windows if (t := _template(query, w)) is not None]
        score, (flip, fx, fy), (x, y) = _best(candidates, big.levels[size], near=near)
    return score


def copy_score(a: AlignableThumb, b: AlignableThumb, needed: float | None = None) -> float:
    """0..1 (clamped): how surely one thumbnail is an edited copy of the other.

    needed: the score the caller compares with. A direction whose coarse score is more than
    MAX_REFINE_GAIN below it is not refined (refinement is most of the cost of a pair that
    gets there), nor taken to 128x128 when its 64x64 score is more than MAX_FINE_GAIN
    below it: the score it stops at stands, which is below `needed` either way, so every
    comparison with `needed` comes out as it would have.
    """
    floor = REFINE_FROM if needed is None else max(REFINE_FROM, needed - MAX_REFINE_GAIN)
    best = 0.0
    for small, big in ((a, b), (b, a)):
        coarse = _coarse(small, big, floor)
        best = max(best, _refined(small, big, coarse, needed) if coarse[0] >= floor else coarse[0])
    return max(0.0, min(1.0, best))

"""dedup/verify.py's shortcuts: each must leave a true copy's score as the full search gives it."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from imagesearch.dedup import verify
from imagesearch.dedup.verify import AlignableThumb, copy_score

SIZE = 128


def _photo(seed: int) -> np.ndarray:
    """A smooth random grey picture (blurred noise), THUMB_SIZE square."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    return cv2.resize(cv2.GaussianBlur(noise, (0, 0), 2.0), (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)


def _crop(image: np.ndarray, keep: float, at: tuple[float, float]) -> np.ndarray:
    """`keep` of each side from relative offset `at`, squashed back to a thumbnail."""
    side = int(SIZE * keep)
    x, y = int((SIZE - side) * at[0]), int((SIZE - side) * at[1])
    return cv2.resize(image[y : y + side, x : x + side], (SIZE, SIZE), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("seed,keep,at,mirror", [(1, 0.8, (0.3, 0.6), False), (2, 0.7, (1.0, 0.0), True), (3, 0.9, (0.5, 0.5), False)])
def test_local_refinement_scores_a_crop_as_the_whole_image_search(
    monkeypatch: pytest.MonkeyPatch, seed: int, keep: float, at: tuple[float, float], mirror: bool
) -> None:
    original = _photo(seed)
    copy = _crop(original, keep, at)
    copy = np.ascontiguousarray(copy[:, ::-1]) if mirror else copy
    local = copy_score(AlignableThumb.of(original), AlignableThumb.of(copy), 0.9)
    monkeypatch.setattr(verify, "REFINE_RADIUS", SIZE)  # every position: the whole-image search
    whole = copy_score(AlignableThumb.of(original), AlignableThumb.of(copy), 0.9)
    assert whole >= 0.9
    assert local == pytest.approx(whole, abs=1e-5)


def test_unrelated_pictures_stay_below_the_copy_threshold() -> None:
    assert copy_score(AlignableThumb.of(_photo(4)), AlignableThumb.of(_photo(5)), 0.9) < 0.9


def test_mirrored_templates_equal_scaling_the_mirrored_image() -> None:
    image = _photo(6)
    for size in (32, 64, 128):
        level = verify._scaled(image, size)
        for fx, fy in ((0.6, 0.7), (0.8, 1.0), (0.925, 0.575)):
            window = (int(round(size * fx)), int(round(size * fy)))
            scaled_mirror = cv2.resize(np.ascontiguousarray(level[:, ::-1]), window, interpolation=cv2.INTER_AREA)
            assert np.array_equal(verify._template(level, (True, fx, fy)), scaled_mirror)

"""The near-duplicate rule: embedding neighbours as candidates, then hash or alignment.

Measured on Corel-1K (bench/duplicates.py, docs/quality.md): the embedding alone cannot
tell a 70 % crop of a photo (similarity down to ~0.6) from another photo of the same
class (up to ~0.95), and a perceptual hash only survives edits that keep the frame. So
the embedding index proposes candidates (cheap, recall-oriented), and each is confirmed
by a near-identical perceptual hash or, failing that, by aligning thumbnails (verify.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from imagesearch.dedup.fingerprint import Fingerprint, hamming
from imagesearch.dedup.turnhash import UPRIGHT, closest
from imagesearch.dedup.verify import AlignableThumb, copy_score


@dataclass(frozen=True)
class NearDuplicateRule:
    """neighbours: candidates taken from the vector index per image.
    min_similarity: embedding cosine below which a neighbour is no candidate.
    max_hash_distance / hash_min_similarity: a candidate this close in pHash and
        embedding is a copy without alignment (re-encoded, resized, brightened).
    min_copy_score: alignment score (0..1) from which a candidate is a copy.
    turn_candidates: candidates taken from the turn-hash index per image (turnhash.py):
        items sharing a hash chunk with the image in some orientation, nearest first.
    max_turn_hash_distance: a turn-hash candidate further than this from the image's
        nearest orientation is not aligned (turned and mirrored copies of the calibration
        set: at most 6 bits; other Corel originals: 1 % within 8, 3.8 % within 12).
    """

    neighbours: int = 3
    min_similarity: float = 0.5
    max_hash_distance: int = 4
    hash_min_similarity: float = 0.8
    min_copy_score: float = 0.90
    turn_candidates: int = 4
    max_turn_hash_distance: int = 10

    def score(self, a: Fingerprint, b: Fingerprint, similarity: float, threshold: float | None = None) -> float:
        """How surely `a` and `b` are copies of one image, 0..1 (>= min_copy_score: they are).

        threshold: the score the caller will compare with (default min_copy_score); scores
        below it may come out lower than a full alignment would give (verify.copy_score)."""
        if a.sha256 == b.sha256:
            return 1.0
        if similarity < self.min_similarity:
            return 0.0
        if similarity >= self.hash_min_similarity and hamming(a.phash, b.phash) <= self.max_hash_distance:
            return 1.0 - hamming(a.phash, b.phash) / 64
        return copy_score(a.alignable, b.alignable, self.min_copy_score if threshold is None else threshold)

    def turned_score(self, a: Fingerprint, b: Fingerprint, threshold: float | None = None) -> float:
        """Like score, for a pair found by turn hash rather than by the embedding (a turned
        copy's cosine says little): `a` laid in the orientation whose hash is nearest to
        `b`'s, then aligned (mirrors are tried by the alignment too). 0 when too far."""
        if a.sha256 == b.sha256:
            return 1.0
        distance, orientation = closest(a.turn_hashes, b.turn_hashes[UPRIGHT])
        if distance > self.max_turn_hash_distance:
            return 0.0
        laid = a.alignable if orientation == UPRIGHT else AlignableThumb.of(orientation.apply(a.thumb))
        return copy_score(laid, b.alignable, self.min_copy_score if threshold is None else threshold)

    def is_copy(self, a: Fingerprint, b: Fingerprint, similarity: float, threshold: float | None = None) -> bool:
        """Whether the pair is a near-duplicate (at `threshold` instead of min_copy_score if given)."""
        needed = self.min_copy_score if threshold is None else threshold
        return self.score(a, b, similarity, needed) >= needed

"""One hit's calibrated score: the space's cosine calibration, lifted into the
near-duplicate band when the duplicate rule confirms the hit is a copy of the query."""

from __future__ import annotations

from dataclasses import dataclass

from imagesearch.dedup.fingerprint import Fingerprint
from imagesearch.dedup.rule import NearDuplicateRule
from imagesearch.scoring.calibration import BELOW_BEST, NEAR_DUPLICATE_FROM, CosineCalibration, ScoreCalibration


@dataclass(frozen=True)
class Scorer:
    """Scores hits of one space with one calibration (None: the identity, uncalibrated)."""

    calibration: ScoreCalibration | None
    space: str
    rule: NearDuplicateRule = NearDuplicateRule()

    @property
    def cosine_map(self) -> CosineCalibration:
        return self.calibration.space(self.space) if self.calibration else CosineCalibration.identity()

    @property
    def label(self) -> str:
        """The calibration's name and version, or "none"."""
        return self.calibration.label if self.calibration else "none"

    @property
    def candidates(self) -> int:
        """How many top hits get the copy check (0: no evidence, e.g. uncalibrated)."""
        return self.calibration.copies.candidates if self.calibration else 0

    @property
    def min_similarity(self) -> float:
        return self.calibration.copies.min_similarity if self.calibration else 1.0

    def copy_lift(self, rule_score: float) -> float | None:
        """The near-duplicate score a rule score earns (>= 0.9), None below the rule's
        own threshold: 0.9 at min_copy_score, 1.0 for the same bytes."""
        floor = self.rule.min_copy_score
        if rule_score < floor:
            return None
        return NEAR_DUPLICATE_FROM + (1 - NEAR_DUPLICATE_FROM) * (rule_score - floor) / (1 - floor)

    def score(self, cosine: float, rule_score: float | None = None) -> float:
        """The hit's score: its calibrated cosine, or its copy lift when that is higher."""
        base = self.cosine_map.score(cosine)
        lift = None if rule_score is None else self.copy_lift(rule_score)
        return base if lift is None else max(base, lift)

    def text_score(self, fused: float, best: float) -> float:
        """A text hit's score: its calibrated fused score, capped by the calibration of its
        distance below the query's best hit when the version has one (offline/v2 on).
        Monotone in `fused` for one query: the order stays."""
        base = self.cosine_map.score(fused)
        below = self.calibration.spaces.get(self.space + BELOW_BEST) if self.calibration else None
        return base if below is None else min(base, below.score(fused - best + 1.0))

    def min_cosine(self, min_score: float) -> float:
        """The cosine a hit needs for `min_score` without copy evidence."""
        return self.cosine_map.min_cosine(min_score)

    def rule_score(self, query: Fingerprint, hit: Fingerprint, cosine: float) -> float:
        """The duplicate rule's score of the pair (dedup/rule.py; its own threshold and recall)."""
        return self.rule.score(query, hit, cosine)

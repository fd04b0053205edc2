"""One hit's calibrated score: the space's cosine calibration, lifted into the
near-duplicate band when the duplicate rule confirms the hit is a copy of the query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from imagesearch.dedup.fingerprint import Fingerprint
from imagesearch.dedup.rule import NearDuplicateRule
from imagesearch.scoring.calibration import (
    BELOW_BEST, CONSENSUS, NEAR_DUPLICATE_FROM, CosineCalibration, Neighbourhood, ScoreCalibration,
)


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

    @property
    def neighbourhood(self) -> Neighbourhood | None:
        """How consensus is measured when the version maps it for this space (offline/v3)."""
        if self.calibration is None or self.space + CONSENSUS not in self.calibration.spaces:
            return None
        return self.calibration.neighbourhood

    def score(self, cosine: float, rule_score: float | None = None, consensus: float | None = None) -> float:
        """The hit's score: its calibrated cosine, or its copy lift when that is higher.

        With a consensus (offline/v3 on), the calibrated cosine is replaced by the map of
        the cosine blended with the consensus, or the cosine's own map where that says
        near-duplicate (>= 0.9: a cosine above every non-copy pair seen in fitting) and is
        higher."""
        base = self.cosine_map.score(cosine)
        hood = self.neighbourhood
        if consensus is not None and hood is not None:
            blended = self.calibration.spaces[self.space + CONSENSUS].score(hood.blend(cosine, consensus))
            base = max(blended, base) if base >= NEAR_DUPLICATE_FROM else blended  # monotone in the cosine
        lift = None if rule_score is None else self.copy_lift(rule_score)
        return base if lift is None else max(base, lift)

    def ranked_scores(
        self, cosines: Sequence[float], rule_scores: Sequence[float | None], consensuses: Sequence[float | None],
    ) -> list[float]:
        """The scores of one query's hits given best cosine first: each hit's score() but,
        before any copy lift, never above the hit ranked above it by cosine. So the order
        stays the cosine's except for copies (offline/v3: ordering by the consensus blend
        instead put the original of a half-picture crop first for 64 % of held-out
        queries, not 86 %; docs/quality.md). A no-op for a cosine map alone (monotone)."""
        out, cap = [], 1.0
        for cosine, rule_score, agreement in zip(cosines, rule_scores, consensuses):
            cap = min(cap, self.score(cosine, None, agreement))
            lift = None if rule_score is None else self.copy_lift(rule_score)
            out.append(cap if lift is None else max(cap, lift))
        return out

    def text_score(self, fused: float, best: float) -> float:
        """A text hit's score: its calibrated fused score, capped by the calibration of its
        distance below the query's best hit when the version has one (offline/v2 on).
        Monotone in `fused` for one query: the order stays."""
        base = self.cosine_map.score(fused)
        below = self.calibration.spaces.get(self.space + BELOW_BEST) if self.calibration else None
        return base if below is None else min(base, below.score(fused - best + 1.0))

    def min_cosine(self, min_score: float) -> float:
        """The cosine a hit needs for `min_score` without copy evidence (-1 with a
        consensus map: the blend can lift any cosine, so the store cannot cut by it)."""
        if self.neighbourhood is not None:
            return -1.0
        return self.cosine_map.min_cosine(min_score)

    def rule_score(self, query: Fingerprint, hit: Fingerprint, cosine: float) -> float:
        """The duplicate rule's score of the pair (dedup/rule.py; its own threshold and recall)."""
        return self.rule.score(query, hit, cosine)

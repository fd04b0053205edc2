"""A monotone map from a space's cosine to a score in 0..1, and the versioned set of them
that ships with a model set.

The map is piecewise linear through fitted knots (bench/calibrate.py fits them on half of
Corel-1K's classes and evaluates on the other half). Piecewise linear rather than a
fitted sigmoid: the knots *are* the band edges (the cosine where noise ends, where
"clearly related" starts, where a cosine alone means a copy), so they can be read and
checked, and the inverse (what `min_score` asks of the cosine) is exact.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

CALIBRATION_DIR = Path(__file__).resolve().parent / "calibrations"


class Band(Enum):
    """How a calibrated image-query score reads (docs/quality.md)."""

    NEAR_DUPLICATE = "near-duplicate"  # >= 0.9
    RELATED = "clearly related"  # 0.7 - 0.9
    WEAK = "weakly related"  # 0.5 - 0.7
    NOISE = "noise"  # < 0.5


# Text queries' calibrations are kept under "text:<space>" (their own bands).
TEXT_PREFIX = "text:"
# From offline/v2: a text space's second map, of the hit's distance below the query's best
# hit (score - best + 1); a text hit scores the lower of the two (docs/quality.md: the
# fused score's level depends on the query, its distance below the best much less).
BELOW_BEST = ":below_best"
# From offline/v3: an image space's second map, of a hit's cosine blended with its
# consensus with the query's neighbourhood (Neighbourhood below; docs/quality.md: a weak
# hit of the query's class resembles the query's other neighbours, an other-class hit
# does not).
CONSENSUS = ":consensus"
NEAR_DUPLICATE_FROM = 0.9
RELATED_FROM = 0.7
NOISE_BELOW = 0.5


def band(score: float) -> Band:
    """The band an image-query score falls in."""
    if score >= NEAR_DUPLICATE_FROM:
        return Band.NEAR_DUPLICATE
    if score >= RELATED_FROM:
        return Band.RELATED
    if score >= NOISE_BELOW:
        return Band.WEAK
    return Band.NOISE


class CalibrationError(ValueError):
    """A calibration file breaks a rule (monotone, bounds, version): a packaging error."""


@dataclass(frozen=True)
class CosineCalibration:
    """score = the piecewise-linear interpolation of (cosines, scores); below the first
    knot the first score, above the last the last. Cosines strictly increase, scores
    strictly increase within 0..1, so the map is monotone and invertible on its range."""

    cosines: tuple[float, ...]
    scores: tuple[float, ...]

    def __post_init__(self) -> None:
        x, y = np.asarray(self.cosines, float), np.asarray(self.scores, float)
        if len(x) < 2 or len(x) != len(y):
            raise CalibrationError(f"need >= 2 knots with one score each, got {len(x)} cosines, {len(y)} scores")
        if not (np.all(np.diff(x) > 0) and np.all(np.diff(y) > 0)):
            raise CalibrationError(f"knots must strictly increase: cosines {self.cosines}, scores {self.scores}")
        if x[0] < -1 or x[-1] > 1 or y[0] < 0 or y[-1] > 1:
            raise CalibrationError(f"cosines must lie in -1..1 and scores in 0..1: {self.cosines}, {self.scores}")

    def score(self, cosine: float) -> float:
        """The calibrated score of one cosine."""
        return float(np.interp(cosine, self.cosines, self.scores))

    def min_cosine(self, score: float) -> float:
        """The smallest cosine whose score is >= `score` (-1 when every cosine's is)."""
        if score <= self.scores[0]:
            return -1.0
        if score > self.scores[-1]:
            return 1.0 + 1e-6  # nothing reaches it
        return float(np.interp(score, self.scores, self.cosines))

    @classmethod
    def identity(cls) -> "CosineCalibration":
        """score = cosine clamped at 0 (spaces nobody fitted)."""
        return cls(cosines=(0.0, 1.0), scores=(0.0, 1.0))


@dataclass(frozen=True)
class CopyEvidence:
    """How copy evidence lifts a top hit into the near-duplicate band.

    candidates: how many top hits (by cosine) get the near-duplicate check per search.
    min_similarity: cosine below which a hit is no candidate (no copy scored lower).
    The check itself is the duplicate rule (dedup/rule.py); a rule score s >= its
    min_copy_score maps to 0.9 + 0.1 * (s - min_copy_score) / (1 - min_copy_score).
    """

    candidates: int
    min_similarity: float


@dataclass(frozen=True)
class Neighbourhood:
    """How an image hit's consensus is measured (offline/v3 on; scoring/neighbourhood.py).

    k: the query's k best hits by cosine form its neighbourhood (the same k whatever the
    search's limit, so a hit's score does not depend on how many hits were asked for).
    weight: the blend is (cosine + weight * consensus) / (1 + weight), where consensus is
    the hit's mean cosine to the neighbourhood's other members (stored vectors).
    """

    k: int
    weight: float

    def blend(self, cosine: float, consensus: float) -> float:
        return (cosine + self.weight * consensus) / (1 + self.weight)


@dataclass(frozen=True)
class ScoreCalibration:
    """Every space's calibration of one model set, at one version."""

    model_set: str
    version: int
    spaces: Mapping[str, CosineCalibration]
    copies: CopyEvidence
    fitted_on: str  # what bench/calibrate.py fitted it on (provenance, shown in docs)
    digest: str  # sha256 of the file's canonical JSON
    neighbourhood: Neighbourhood | None = None  # offline/v3 on: image hits' consensus

    @property
    def label(self) -> str:
        """What each hit reports as its `score_calibration`: model set and version."""
        return f"{self.model_set}/v{self.version}"

    def space(self, name: str) -> CosineCalibration:
        """The space's calibration; the identity for a space nobody fitted."""
        return self.spaces.get(name) or CosineCalibration.identity()


def canonical_digest(document: Mapping[str, Any]) -> str:
    """sha256 of a calibration document as sorted, compact JSON (what versions pin)."""
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def parse(document: Mapping[str, Any]) -> ScoreCalibration:
    """A calibration document (see calibrations/*.json) as a ScoreCalibration."""
    try:
        spaces = {
            name: CosineCalibration(tuple(map(float, knots["cosines"])), tuple(map(float, knots["scores"])))
            for name, knots in document["spaces"].items()
        }
        copies = CopyEvidence(int(document["copies"]["candidates"]), float(document["copies"]["min_similarity"]))
        hood = document.get("neighbourhood")
        neighbourhood = None if hood is None else Neighbourhood(int(hood["k"]), float(hood["weight"]))
        if neighbourhood is not None and (neighbourhood.k < 2 or neighbourhood.weight < 0):
            raise CalibrationError(f"neighbourhood needs k >= 2 and weight >= 0: {hood}")
        version = int(document["version"])
        if version < 1:
            raise CalibrationError(f"version must be >= 1, got {version}")
        return ScoreCalibration(
            model_set=str(document["model_set"]), version=version, spaces=MappingProxyType(spaces), copies=copies,
            fitted_on=str(document.get("fitted_on", "")), digest=canonical_digest(document),
            neighbourhood=neighbourhood,
        )
    except (KeyError, TypeError) as exc:
        raise CalibrationError(f"malformed calibration document: {exc!r}") from None

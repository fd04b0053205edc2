"""The calibrations that ship with the server, one file per model set and version.

A released file is pinned by its digest below: changing the knots of a released version
fails tests/test_scoring.py, so a refit must ship as a new version (a new file and a new
entry here), and every hit names the version that scored it (`score_calibration`), so a
collection's scores never change under its users without a visible version change.
"""

from __future__ import annotations

import json
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping

from imagesearch.scoring.calibration import CALIBRATION_DIR, CalibrationError, ScoreCalibration, parse
from imagesearch.store.base import ScorePin

# (model set, version) -> sha256 of the file's canonical JSON (calibration.canonical_digest).
RELEASED: Mapping[tuple[str, int], str] = MappingProxyType({
    ("offline", 1): "361debf0fbca5a448315a3ebd053eebef1b9196bfae0bc451b4c5aac645e268f",
    # v1 plus the text queries' below-best map (bench/text_norm.py).
    ("offline", 2): "377d2c33987f234cd9c18cc5cfc7188716efeeb3f44625f39b797f4fcb0d663d",
    # v2 plus the image hits' consensus with the query's neighbourhood (bench/calibrate.py).
    ("offline", 3): "151f200b5269f63682396cbc8fff3a1b8cbecb9b6c8d857ff8a7a7bd113f418f",
})
# The version a server scores with, per model set. A model set absent here (e.g. `clip`:
# its tests run random weights, nothing to fit) scores with the identity (score = cosine).
CURRENT: Mapping[str, int] = MappingProxyType({"offline": 3})
# What servers scored each model set with before collections pinned a version (every
# collection created before then reads as pinned to it). Never change an entry.
BEFORE_PINS: Mapping[str, int] = MappingProxyType({"offline": 1})
# A pin's version for "no calibration": scores are the cosine (the identity).
IDENTITY = 0


class CalibrationNotShipped(CalibrationError):
    """A collection is pinned to a calibration version this server does not ship (it was
    created by a newer server): its scores would change silently, so it is refused."""

    def __init__(self, model_set: str, version: int) -> None:
        super().__init__(
            f"the collection's scores use calibration {model_set}/v{version}, which this server does not ship "
            f"(it has {', '.join(f'v{v}' for (m, v) in sorted(RELEASED) if m == model_set) or 'none'}): "
            "serve it with the server version that created it, or a newer one"
        )
        self.model_set = model_set
        self.version = version


def path_of(model_set: str, version: int):
    """Where the file of one calibration version lives."""
    return CALIBRATION_DIR / f"{model_set}.v{version}.json"


@lru_cache(maxsize=None)
def load(model_set: str, version: int) -> ScoreCalibration:
    """A released calibration; CalibrationError if its file is missing, broken, for another
    model set or version, or not the one released."""
    try:
        document = json.loads(path_of(model_set, version).read_text())
    except (OSError, ValueError) as exc:
        raise CalibrationError(f"calibration {model_set}/v{version} unreadable: {exc}") from None
    calibration = parse(document)
    if (calibration.model_set, calibration.version) != (model_set, version):
        raise CalibrationError(f"{path_of(model_set, version).name} holds {calibration.label}")
    released = RELEASED.get((model_set, version))
    if released != calibration.digest:
        raise CalibrationError(
            f"calibration {calibration.label} differs from the released one (digest {calibration.digest}, "
            f"released {released}): ship a refit as a new version"
        )
    return calibration


def current(model_set: str) -> ScoreCalibration | None:
    """The calibration a server scores `model_set` with; None: the identity."""
    version = CURRENT.get(model_set)
    return None if version is None else load(model_set, version)


def pin_for_new(model_set: str) -> ScorePin:
    """What a collection created now records: the version current for its model set."""
    return ScorePin(CURRENT.get(model_set, IDENTITY))


def pinned(model_set: str, pin: ScorePin) -> ScoreCalibration | None:
    """The calibration a collection's hits are scored with: the version it recorded at its
    creation, whatever CURRENT says now (None: the identity). CalibrationNotShipped when
    this server does not ship that version (a collection made by a newer server)."""
    version = _version_of(model_set, pin)
    if version == IDENTITY:
        return None
    if (model_set, version) not in RELEASED:
        raise CalibrationNotShipped(model_set, version)
    return load(model_set, version)


def pin_label(model_set: str, pin: ScorePin) -> str:
    """The pinned version's label ("offline/v2", "none" for the identity), also for a version
    this server does not ship: describing a collection never needs its calibration."""
    version = _version_of(model_set, pin)
    return "none" if version == IDENTITY else f"{model_set}/v{version}"


def _version_of(model_set: str, pin: ScorePin) -> int:
    return BEFORE_PINS.get(model_set, IDENTITY) if pin.version is None else pin.version

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

# (model set, version) -> sha256 of the file's canonical JSON (calibration.canonical_digest).
RELEASED: Mapping[tuple[str, int], str] = MappingProxyType({
    ("offline", 1): "361debf0fbca5a448315a3ebd053eebef1b9196bfae0bc451b4c5aac645e268f",
})
# The version a server scores with, per model set. A model set absent here (e.g. `clip`:
# its tests run random weights, nothing to fit) scores with the identity (score = cosine).
CURRENT: Mapping[str, int] = MappingProxyType({"offline": 1})


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

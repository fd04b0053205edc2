"""The dlib face model files, copied as they are from the `face-recognition-models` package.

The package's own __init__ imports pkg_resources (gone from current setuptools), so its
folder is found through the import system without importing it. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Callable
from pathlib import Path

PACKAGE = "face_recognition_models"
# The files model_repository/face_embedding/1/face_pipeline.py loads.
FACE_MODEL_FILES = (
    "shape_predictor_5_face_landmarks.dat",
    "dlib_face_recognition_resnet_model_v1.dat",
    "mmod_human_face_detector.dat",
)


def package_models_dir() -> Path:
    """The package's models/ folder; ImportError (naming the package) when it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{PACKAGE} is not installed", name=PACKAGE)
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def face_model_copier(filename: str) -> Callable[[Path], None]:
    """An export step for ModelArtifact: copy one packaged file to the target path."""

    def copy(target: Path) -> None:
        source = package_models_dir() / filename
        if not source.exists():
            raise ImportError(f"{source} is missing from {PACKAGE}", name=PACKAGE)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.replace(target)

    return copy

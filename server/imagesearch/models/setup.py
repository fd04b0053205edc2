"""Fill a Triton model repository with the ONNX files its Python-backend models load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from imagesearch.models.efficientnet import export_efficientnet_lite0
from imagesearch.models.opennsfw import copy_open_nsfw


class ExportExtrasMissing(RuntimeError):
    """The packages needed to convert weights to ONNX are not installed."""


@dataclass(frozen=True)
class ModelArtifact:
    """An ONNX file one model of the repository needs, and how to produce it."""

    model: str
    filename: str
    export: Callable[[Path], None]

    def path(self, repo: Path) -> Path:
        """Where the file lives in `repo`: next to the version's model.py."""
        return Path(repo) / self.model / "1" / self.filename


ARTIFACTS: tuple[ModelArtifact, ...] = (
    ModelArtifact("image_embedding", "model.onnx", export_efficientnet_lite0),
    ModelArtifact("nsfw", "model.onnx", copy_open_nsfw),
)


def ensure_model_repository(repo: Path, force: bool = False) -> list[Path]:
    """Export every missing (or, with `force`, every) ONNX file of `repo`; return the paths written.

    Raises ExportExtrasMissing, naming the install command, when torch or the weight
    packages are absent; FileNotFoundError when `repo` lacks a model's folder.
    """
    written: list[Path] = []
    for artifact in ARTIFACTS:
        target = artifact.path(repo)
        if not target.parent.is_dir():
            raise FileNotFoundError(f"{target.parent} is missing: is {repo} a model repository?")
        if target.exists() and not force:
            continue
        try:
            artifact.export(target)
        except ImportError as exc:
            raise ExportExtrasMissing(
                f"exporting {artifact.model} needs the export extras ({exc.name} is missing): "
                "pip install 'imagesearch[export]'"
            ) from exc
        written.append(target)
    return written

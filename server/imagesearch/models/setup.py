"""Fill a Triton model repository with the files (ONNX, matrices, tokenizers) its Python-backend models load."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from imagesearch.models.bridge import export_class_embeddings
from imagesearch.models.dlib_faces import FACE_MODEL_FILES, face_model_copier
from imagesearch.models.efficientnet import OUTPUT_NAMES as EFFICIENTNET_OUTPUTS
from imagesearch.models.efficientnet import export_efficientnet_lite0
from imagesearch.models.minilm import copy_tokenizer, export_minilm
from imagesearch.models.opennsfw import copy_open_nsfw
from imagesearch.models.ppocr import copier as ppocr_copier


class ExportExtrasMissing(RuntimeError):
    """The packages needed to convert weights to ONNX are not installed."""


@dataclass(frozen=True)
class ModelArtifact:
    """An ONNX file one model of the repository needs, and how to produce it."""

    model: str
    filename: str
    export: Callable[[Path], None]
    # Whether an existing file is what this code base expects; a stale one is exported again.
    is_current: Callable[[Path], bool] = lambda path: True
    # Optional models (faces, OCR) are skipped in a repository without their folder: the
    # server offers those features only where the model is present.
    optional: bool = False

    def path(self, repo: Path) -> Path:
        """Where the file lives in `repo`: next to the version's model.py."""
        return Path(repo) / self.model / "1" / self.filename


def _has_outputs(*names: str) -> Callable[[Path], bool]:
    """A check that an ONNX file has (at least) the named outputs."""

    def check(path: Path) -> bool:
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return set(names) <= {output.name for output in session.get_outputs()}

    return check


ARTIFACTS: tuple[ModelArtifact, ...] = (
    # Before text search the export had no `logits` output: such a file is replaced.
    ModelArtifact("image_embedding", "model.onnx", export_efficientnet_lite0, _has_outputs(*EFFICIENTNET_OUTPUTS)),
    ModelArtifact("image_embedding", "class_text_embeddings.npy", export_class_embeddings),
    ModelArtifact("text_embedding", "model.onnx", export_minilm),
    ModelArtifact("text_embedding", "tokenizer.json", copy_tokenizer),
    ModelArtifact("nsfw", "model.onnx", copy_open_nsfw),
    *(ModelArtifact("face_embedding", name, face_model_copier(name), optional=True) for name in FACE_MODEL_FILES),
    # OCR: PP-OCRv6 small detection/recognition and the 0/180 line classifier, copied as shipped.
    *(ModelArtifact("ocr", name, ppocr_copier(name), optional=True) for name in ("det.onnx", "cls.onnx", "rec.onnx")),
)


def ensure_model_repository(repo: Path, force: bool = False) -> list[Path]:
    """Export every missing or stale (or, with `force`, every) file of `repo`; return the paths written.

    Raises ExportExtrasMissing, naming the install command, when torch or the weight
    packages are absent; FileNotFoundError when `repo` lacks a model's folder.
    """
    written: list[Path] = []
    for artifact in ARTIFACTS:
        target = artifact.path(repo)
        if not target.parent.is_dir() and artifact.optional:
            continue
        if not target.parent.is_dir():
            raise FileNotFoundError(f"{target.parent} is missing: is {repo} a model repository?")
        if target.exists() and not force and artifact.is_current(target):
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

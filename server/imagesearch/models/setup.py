"""Fill a Triton model repository with the files (ONNX, matrices, tokenizers) its Python-backend models load."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from imagesearch.models.bridge import export_class_embeddings
from imagesearch.models.dlib_faces import FACE_MODEL_FILES, face_model_copier
from imagesearch.models.efficientnet import OUTPUT_NAMES as EFFICIENTNET_OUTPUTS
from imagesearch.models.efficientnet import export_efficientnet_lite0
from imagesearch.models.minilm import copy_tokenizer, export_minilm
from imagesearch.models.opennsfw import copy_open_nsfw
from imagesearch.models.ppocr import FILES as PPOCR_FILES
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
    # OCR: PP-OCRv6 small detection/recognition, the 0/180 line classifier and PP-OCRv5
    # mobile detection (a second detection pass), copied as shipped.
    *(ModelArtifact("ocr", name, ppocr_copier(name), optional=True) for name in PPOCR_FILES),
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


# -- the GPU variant (`imagesearch models setup --gpu`) -----------------------------------

# The models whose ONNX Runtime sessions can move to a GPU; OCR and faces keep their own configs.
GPU_MODELS = ("image_embedding", "nsfw", "text_embedding", "image_analysis")
GPU_INSTANCE_GROUP = """instance_group [
  {
    count: 1
    kind: KIND_GPU
  }
]"""
# A GPU gains from batches where a CPU does not (docs/benchmarks.md): wait up to 1 ms for one.
GPU_DYNAMIC_BATCHING = """dynamic_batching {
  preferred_batch_size: [ 16, 32 ]
  max_queue_delay_microseconds: 1000
}"""
_INSTANCE_GROUP = re.compile(r"instance_group\s*\[[^\[\]]*\]")
_DYNAMIC_BATCHING = re.compile(r"dynamic_batching\s*\{[^{}]*\}")
_MAX_BATCH = re.compile(r"max_batch_size:\s*(\d+)")
GPU_MAX_BATCH = 32
_PROVIDER = re.compile(r'(key:\s*"execution_provider"\s*value:\s*\{\s*string_value:\s*")[^"]*(")')


def gpu_config(text: str) -> str:
    """A CPU config.pbtxt turned into its GPU variant: instances of KIND_GPU, ONNX Runtime's
    CUDA provider (the model.py files read `execution_provider`), batches of 16-32.

    Untested on a GPU in this project's CI: it needs onnxruntime-gpu instead of onnxruntime
    and a Triton with the GPU build (the nvidia-pytriton wheel's binary is one).
    """
    text, groups = _INSTANCE_GROUP.subn(GPU_INSTANCE_GROUP, text)
    if groups != 1:
        raise ValueError("expected one instance_group block")
    text = _DYNAMIC_BATCHING.sub(GPU_DYNAMIC_BATCHING, text)
    text = _MAX_BATCH.sub(lambda m: f"max_batch_size: {max(int(m.group(1)), GPU_MAX_BATCH)}", text)
    text, providers = _PROVIDER.subn(r"\g<1>cuda\g<2>", text)
    if providers == 0:
        text += '\nparameters: {\n  key: "execution_provider"\n  value: { string_value: "cuda" }\n}\n'
    return text


def write_gpu_configs(repo: Path) -> list[Path]:
    """Rewrite GPU_MODELS' config.pbtxt in `repo` as their GPU variants; the paths written.
    (In a git checkout the CPU versions come back with `git checkout model_repository`.)"""
    written = []
    for model in GPU_MODELS:
        path = Path(repo) / model / "config.pbtxt"
        if path.exists():
            path.write_text(gpu_config(path.read_text()))
            written.append(path)
    return written

"""What both CLIP exporters share: the ONNX check against PyTorch and the Triton configs.

clip.py (Hugging Face checkpoints) and open_clip_export.py (OpenCLIP checkpoints) each
wrap their model's towers as modules with these input and output names, and write the
same two Triton models, so the committed clip_image and clip_text model.py files serve
either.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

PIXELS = "pixels"
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
OUTPUT_NAME = "embedding"
IMAGE_MODEL = "clip_image"
TEXT_MODEL = "clip_text"
MAX_ABS_DIFF = 1e-4
OPSET = 17


class ExportError(RuntimeError):
    """The export failed or an ONNX output does not match PyTorch."""


@dataclass(frozen=True)
class ClipExport:
    """What an export wrote and measured."""

    image_onnx: Path
    text_onnx: Path
    dimension: int
    image_size: int
    version: str
    image_max_diff: float
    text_max_diff: float


@dataclass(frozen=True)
class ImagePreprocess:
    """How clip_image turns a decoded image into the pixels the image tower takes."""

    size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize_mode: str = "shortest"  # see preprocessing.RESIZE_MODES
    interpolation: str = "bicubic"  # see preprocessing.RESAMPLING


@dataclass(frozen=True)
class TextTokens:
    """How clip_text turns text into the token ids the text tower takes (text_tokens.py)."""

    max_tokens: int
    pad_id: int
    clean: str = "none"  # see text_tokens.CLEAN_MODES


def version_dirs(repo: Path) -> tuple[Path, Path]:
    """The image and text models' version folders in `repo`, created if missing."""
    image_dir, text_dir = Path(repo) / IMAGE_MODEL / "1", Path(repo) / TEXT_MODEL / "1"
    image_dir.mkdir(parents=True, exist_ok=True)
    text_dir.mkdir(parents=True, exist_ok=True)
    return image_dir, text_dir


def served_text_tokens(repo: Path) -> ModuleType:
    """clip_text's own text_tokens.py, so exports check tokenisation with the code Triton runs."""
    path = Path(repo) / TEXT_MODEL / "1" / "text_tokens.py"
    if not path.exists():
        raise ExportError(f"{path} is missing: the model repository lacks the committed clip_text model")
    spec = importlib.util.spec_from_file_location("clip_text_tokens", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pixel_batches(image_size: int) -> list[np.ndarray]:
    """Noise batches of two sizes (proving the dynamic batch axis) in CLIP's value range."""
    rng = np.random.default_rng(0)
    return [
        rng.uniform(-1.8, 2.1, (2, 3, image_size, image_size)).astype(np.float32),
        rng.uniform(-1.8, 2.1, (3, 3, image_size, image_size)).astype(np.float32),
    ]


def export_checked(module, example, input_names, out_path: Path, feeds: list[dict], dimension: int) -> float:
    """torch.onnx.export to a temporary file, compare with PyTorch, rename; returns the max diff."""
    import onnxruntime as ort
    import torch

    tmp_path = out_path.with_name(out_path.name + ".tmp")
    try:
        torch.onnx.export(
            module, example, str(tmp_path), dynamo=False, opset_version=OPSET,
            input_names=input_names, output_names=[OUTPUT_NAME],
            dynamic_axes={
                **{n: ({0: "batch"} if n == PIXELS else {0: "batch", 1: "tokens"}) for n in input_names},
                OUTPUT_NAME: {0: "batch"},
            },
        )
        session = ort.InferenceSession(str(tmp_path), providers=["CPUExecutionProvider"])
        worst = 0.0
        for feed in feeds:
            expected = module(*(torch.from_numpy(feed[n]) for n in input_names)).numpy()
            (actual,) = session.run([OUTPUT_NAME], feed)
            if actual.shape != (expected.shape[0], dimension):
                raise ExportError(f"{out_path}: ONNX output shape {actual.shape}, expected {expected.shape}")
            worst = max(worst, float(np.max(np.abs(actual - expected))))
        if worst > MAX_ABS_DIFF:
            raise ExportError(f"{out_path}: ONNX differs from PyTorch by {worst:.2e} > {MAX_ABS_DIFF:.0e}")
        tmp_path.replace(out_path)
        return worst
    finally:
        tmp_path.unlink(missing_ok=True)


def write_configs(repo: Path, name: str, dimension: int, image: ImagePreprocess, text: TextTokens) -> str:
    """Write both config.pbtxt files; returns the version (digest of both ONNX files and the tokenizer)."""
    image_dir, text_dir = Path(repo) / IMAGE_MODEL / "1", Path(repo) / TEXT_MODEL / "1"
    digest = hashlib.sha256()
    for path in (image_dir / "model.onnx", text_dir / "model.onnx", text_dir / "tokenizer.json"):
        digest.update(path.read_bytes())
    version = digest.hexdigest()[:12]
    (Path(repo) / IMAGE_MODEL / "config.pbtxt").write_text(_image_config(name, version, dimension, image))
    (Path(repo) / TEXT_MODEL / "config.pbtxt").write_text(_text_config(name, version, dimension, text))
    return version


def _image_config(name: str, version: str, dimension: int, image: ImagePreprocess) -> str:
    return f'''# Written by `imagesearch models export-clip`; do not edit (export again instead).
# CLIP image tower: encoded image bytes in, L2-normalised {dimension}-d embedding out.
name: "{IMAGE_MODEL}"
backend: "python"
max_batch_size: 32
input [ {{ name: "IMAGE" data_type: TYPE_STRING dims: [ 1 ] }} ]
output [ {{ name: "EMBEDDING" data_type: TYPE_FP32 dims: [ {dimension} ] }} ]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters: {{ key: "embedding_model_name" value: {{ string_value: "{name}" }} }}
parameters: {{ key: "embedding_model_version" value: {{ string_value: "{version}" }} }}
parameters: {{ key: "image_size" value: {{ string_value: "{image.size}" }} }}
parameters: {{ key: "pixel_mean" value: {{ string_value: "{' '.join(str(float(v)) for v in image.mean)}" }} }}
parameters: {{ key: "pixel_std" value: {{ string_value: "{' '.join(str(float(v)) for v in image.std)}" }} }}
parameters: {{ key: "resize_mode" value: {{ string_value: "{image.resize_mode}" }} }}
parameters: {{ key: "interpolation" value: {{ string_value: "{image.interpolation}" }} }}
parameters: {{ key: "intra_op_threads" value: {{ string_value: "2" }} }}
parameters: {{ key: "max_image_pixels" value: {{ string_value: "64000000" }} }}
'''


def _text_config(name: str, version: str, dimension: int, text: TextTokens) -> str:
    return f'''# Written by `imagesearch models export-clip`; do not edit (export again instead).
# CLIP text tower: UTF-8 text in, L2-normalised {dimension}-d embedding out (same space as clip_image).
name: "{TEXT_MODEL}"
backend: "python"
max_batch_size: 32
input [ {{ name: "TEXT" data_type: TYPE_STRING dims: [ 1 ] }} ]
output [ {{ name: "EMBEDDING" data_type: TYPE_FP32 dims: [ {dimension} ] }} ]
dynamic_batching {{ max_queue_delay_microseconds: 2000 }}
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters: {{ key: "embedding_model_name" value: {{ string_value: "{name}" }} }}
parameters: {{ key: "embedding_model_version" value: {{ string_value: "{version}" }} }}
parameters: {{ key: "query_template" value: {{ string_value: "{{}}" }} }}
parameters: {{ key: "max_tokens" value: {{ string_value: "{text.max_tokens}" }} }}
parameters: {{ key: "pad_id" value: {{ string_value: "{text.pad_id}" }} }}
parameters: {{ key: "text_clean" value: {{ string_value: "{text.clean}" }} }}
parameters: {{ key: "intra_op_threads" value: {{ string_value: "1" }} }}
'''

"""Export a CLIP checkpoint's two towers to ONNX and write them as Triton models.

`imagesearch models export-clip CHECKPOINT` loads a Hugging Face CLIP checkpoint (a hub
name such as "openai/clip-vit-base-patch32", which needs internet access once, or a
local folder saved with `save_pretrained`) and writes into the model repository:

    clip_image/config.pbtxt, clip_image/1/model.onnx   pixels [N,3,S,S] -> unit [N,D]
    clip_text/config.pbtxt,  clip_text/1/model.onnx    input_ids, attention_mask -> unit [N,D]
    clip_text/1/tokenizer.json                         the checkpoint's own tokenizer

The model.py files are committed (clip_image/1/model.py; clip_text/1/model.py links to
text_embedding's, which tokenises and runs any such text graph). Both configs name the
space "<checkpoint> v<digest of both ONNX files>", so collections built with one export
refuse a server serving another. Each ONNX file is kept only if ONNX Runtime matches
PyTorch within MAX_ABS_DIFF.

OpenCLIP checkpoints: convert them to the Hugging Face format first (open_clip ships
conversion scripts for its ViT models); see the README.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PIXELS = "pixels"
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
OUTPUT_NAME = "embedding"
IMAGE_MODEL = "clip_image"
TEXT_MODEL = "clip_text"
MAX_ABS_DIFF = 1e-4
OPSET = 17
# CLIP's text tower has learned positions for this many tokens (77 for OpenAI's models).
DEFAULT_MAX_TOKENS = 77


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


def export_clip(checkpoint: str, repo: Path, name: str | None = None) -> ClipExport:
    """Export `checkpoint` (hub name or local folder) into the model repository `repo`.

    `name` is the model name recorded with collections (default: the checkpoint's name).
    Raises ExportError on a mismatch with PyTorch, ImportError without the export extras.
    """
    import torch
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    model = CLIPModel.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    processor = _image_processor(CLIPImageProcessor, checkpoint, model.config.vision_config.image_size)
    image_size = int(model.config.vision_config.image_size)
    dimension = int(model.config.projection_dim)
    max_tokens = min(int(model.config.text_config.max_position_embeddings), DEFAULT_MAX_TOKENS)
    repo = Path(repo)

    vision_tower, text_tower = _tower_classes()
    vision, text = vision_tower(model).eval(), text_tower(model).eval()
    image_dir, text_dir = repo / IMAGE_MODEL / "1", repo / TEXT_MODEL / "1"
    image_dir.mkdir(parents=True, exist_ok=True)
    text_dir.mkdir(parents=True, exist_ok=True)
    tokenizer.backend_tokenizer.save(str(text_dir / "tokenizer.json"))

    pixel_batches = _pixel_batches(image_size)
    token_batches = [_tokens(tokenizer, texts, max_tokens) for texts in (
        ["a photo of a dog"], ["a beach at sunset", "a red double-decker bus in a London street", "shoes"])]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        image_diff = _export_checked(
            vision, (torch.from_numpy(pixel_batches[0]),), [PIXELS], image_dir / "model.onnx",
            [{PIXELS: b} for b in pixel_batches], dimension,
        )
        ids, mask = token_batches[1]
        text_diff = _export_checked(
            text, (torch.from_numpy(ids), torch.from_numpy(mask)), [INPUT_IDS, ATTENTION_MASK],
            text_dir / "model.onnx",
            [{INPUT_IDS: i, ATTENTION_MASK: m} for i, m in token_batches], dimension,
        )

    digest = hashlib.sha256()
    for path in (image_dir / "model.onnx", text_dir / "model.onnx", text_dir / "tokenizer.json"):
        digest.update(path.read_bytes())
    version = digest.hexdigest()[:12]
    model_name = name or f"clip:{Path(checkpoint).name if Path(checkpoint).exists() else checkpoint}"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    (repo / IMAGE_MODEL / "config.pbtxt").write_text(
        _image_config(model_name, version, dimension, image_size, processor.image_mean, processor.image_std)
    )
    (repo / TEXT_MODEL / "config.pbtxt").write_text(_text_config(model_name, version, dimension, max_tokens, pad_id))
    return ClipExport(
        image_dir / "model.onnx", text_dir / "model.onnx", dimension, image_size, version, image_diff, text_diff
    )


def _image_processor(cls, checkpoint: str, image_size: int):
    """The checkpoint's preprocessing (mean/std); CLIP's defaults when it ships none."""
    try:
        return cls.from_pretrained(checkpoint)
    except OSError:
        return cls(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})


def _tokens(tokenizer, texts: list[str], max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Ids and mask as the Triton model makes them: the backend tokenizer, padded to the longest."""
    backend = tokenizer.backend_tokenizer
    backend.enable_truncation(max_tokens)
    backend.enable_padding(pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
    encodings = backend.encode_batch(texts)
    backend.no_padding()
    backend.no_truncation()
    return (
        np.array([e.ids for e in encodings], dtype=np.int64),
        np.array([e.attention_mask for e in encodings], dtype=np.int64),
    )


def _pixel_batches(image_size: int) -> list[np.ndarray]:
    """Noise batches of two sizes (proving the dynamic batch axis) in CLIP's value range."""
    rng = np.random.default_rng(0)
    return [
        rng.uniform(-1.8, 2.1, (2, 3, image_size, image_size)).astype(np.float32),
        rng.uniform(-1.8, 2.1, (3, 3, image_size, image_size)).astype(np.float32),
    ]


def _export_checked(module, example, input_names, out_path: Path, feeds: list[dict], dimension: int) -> float:
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


def _tower_classes():
    """The two wrapper modules (defined lazily: torch is an export-time dependency)."""
    import torch

    class VisionTower(torch.nn.Module):
        """Pixels -> unit image embedding (CLIP's projection, then L2 normalisation)."""

        def __init__(self, clip) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, pixels):
            features = _as_tensor(self.clip.get_image_features(pixel_values=pixels))
            return torch.nn.functional.normalize(features, p=2.0, dim=1, eps=1e-12)

    class TextTower(torch.nn.Module):
        """Token ids and mask -> unit text embedding."""

        def __init__(self, clip) -> None:
            super().__init__()
            self.clip = clip

        def forward(self, input_ids, attention_mask):
            features = _as_tensor(self.clip.get_text_features(input_ids=input_ids, attention_mask=attention_mask))
            return torch.nn.functional.normalize(features, p=2.0, dim=1, eps=1e-12)

    return VisionTower, TextTower


def _as_tensor(output):
    """get_*_features returns a tensor, or (in newer transformers) an output object holding it."""
    return output if hasattr(output, "shape") else output.pooler_output


def _image_config(name: str, version: str, dimension: int, size: int, mean, std) -> str:
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
parameters: {{ key: "image_size" value: {{ string_value: "{size}" }} }}
parameters: {{ key: "pixel_mean" value: {{ string_value: "{' '.join(str(float(v)) for v in mean)}" }} }}
parameters: {{ key: "pixel_std" value: {{ string_value: "{' '.join(str(float(v)) for v in std)}" }} }}
parameters: {{ key: "intra_op_threads" value: {{ string_value: "2" }} }}
parameters: {{ key: "max_image_pixels" value: {{ string_value: "64000000" }} }}
'''


def _text_config(name: str, version: str, dimension: int, max_tokens: int, pad_id: int) -> str:
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
parameters: {{ key: "max_tokens" value: {{ string_value: "{max_tokens}" }} }}
parameters: {{ key: "pad_id" value: {{ string_value: "{pad_id}" }} }}
parameters: {{ key: "intra_op_threads" value: {{ string_value: "1" }} }}
'''

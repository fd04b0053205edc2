"""Export a CLIP checkpoint's two towers to ONNX and write them as Triton models.

`imagesearch models export-clip CHECKPOINT` takes either kind of CLIP checkpoint:

  Hugging Face `transformers` CLIP: a hub name such as "openai/clip-vit-base-patch32"
  (internet access once) or a local folder saved with `save_pretrained`;
  OpenCLIP (open_clip_export.py): "open_clip:ARCH/PRETRAINED" (a built-in architecture
  and pretrained tag, e.g. open_clip:ViT-B-32/laion2b_s34b_b79k), "open_clip:hf-hub:ORG/REPO",
  a local folder holding open_clip_config.json and its weights, or a local weights
  file (.pt/.pth/.bin/.safetensors) with `--open-clip-arch` naming its architecture
  (built-in name or a model config JSON file).

Either way it writes into the model repository:

    clip_image/config.pbtxt, clip_image/1/model.onnx   pixels [N,3,S,S] -> unit [N,D]
    clip_text/config.pbtxt,  clip_text/1/model.onnx    input_ids (+ attention_mask) -> unit [N,D]
    clip_text/1/tokenizer.json                         the checkpoint's tokenizer

The model.py files are committed (clip_image/1/model.py; clip_text/1/model.py and
text_tokens.py link to text_embedding's, which tokenise and run any such text graph). Both configs name the
space "<checkpoint> v<digest of both ONNX files and the tokenizer>", so collections
built with one export refuse a server serving another. Each ONNX file is kept only if
ONNX Runtime matches PyTorch within MAX_ABS_DIFF (clip_onnx.py).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from imagesearch.models.clip_onnx import (
    ATTENTION_MASK,
    INPUT_IDS,
    PIXELS,
    ClipExport,
    ImagePreprocess,
    TextTokens,
    export_checked,
    pixel_batches,
    served_text_tokens,
    version_dirs,
    write_configs,
)
from imagesearch.models.open_clip_export import export_open_clip, is_open_clip

# CLIP's text tower has learned positions for this many tokens (77 for OpenAI's models).
DEFAULT_MAX_TOKENS = 77


def export_clip(
    checkpoint: str, repo: Path, name: str | None = None, open_clip_arch: str | None = None
) -> ClipExport:
    """Export `checkpoint` (see the module docstring for its forms) into the model repository `repo`.

    `name` is the model name recorded with collections (default: the checkpoint's name);
    `open_clip_arch` makes `checkpoint` an OpenCLIP weights file of that architecture.
    Raises ExportError on a mismatch with PyTorch, ImportError without the export extras.
    """
    if is_open_clip(checkpoint, open_clip_arch):
        return export_open_clip(checkpoint, Path(repo), name, open_clip_arch)
    return _export_hugging_face(checkpoint, Path(repo), name)


def _export_hugging_face(checkpoint: str, repo: Path, name: str | None) -> ClipExport:
    """A transformers CLIPModel (hub name or save_pretrained folder)."""
    import torch
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPModel

    model = CLIPModel.from_pretrained(checkpoint).eval()
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    processor = _image_processor(CLIPImageProcessor, checkpoint, model.config.vision_config.image_size)
    image_size = int(model.config.vision_config.image_size)
    dimension = int(model.config.projection_dim)
    text = TextTokens(
        max_tokens=min(int(model.config.text_config.max_position_embeddings), DEFAULT_MAX_TOKENS),
        pad_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
    )

    vision_tower, text_tower = _tower_classes()
    vision, text_module = vision_tower(model).eval(), text_tower(model).eval()
    image_dir, text_dir = version_dirs(repo)
    tokenizer.backend_tokenizer.save(str(text_dir / "tokenizer.json"))
    tokens = served_text_tokens(repo)
    served = tokens.load_tokenizer(str(text_dir / "tokenizer.json"), text.max_tokens, text.pad_id)

    pixels = pixel_batches(image_size)
    token_batches = [tokens.encode(served, texts) for texts in (
        ["a photo of a dog"], ["a beach at sunset", "a red double-decker bus in a London street", "shoes"])]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        image_diff = export_checked(
            vision, (torch.from_numpy(pixels[0]),), [PIXELS], image_dir / "model.onnx",
            [{PIXELS: b} for b in pixels], dimension,
        )
        example = token_batches[1]
        text_diff = export_checked(
            text_module, (torch.from_numpy(example[INPUT_IDS]), torch.from_numpy(example[ATTENTION_MASK])),
            [INPUT_IDS, ATTENTION_MASK], text_dir / "model.onnx",
            [{INPUT_IDS: b[INPUT_IDS], ATTENTION_MASK: b[ATTENTION_MASK]} for b in token_batches], dimension,
        )

    model_name = name or f"clip:{Path(checkpoint).name if Path(checkpoint).exists() else checkpoint}"
    image = ImagePreprocess(image_size, tuple(processor.image_mean), tuple(processor.image_std))
    version = write_configs(repo, model_name, dimension, image, text)
    return ClipExport(
        image_dir / "model.onnx", text_dir / "model.onnx", dimension, image_size, version, image_diff, text_diff
    )


def _image_processor(cls, checkpoint: str, image_size: int):
    """The checkpoint's preprocessing (mean/std); CLIP's defaults when it ships none."""
    try:
        return cls.from_pretrained(checkpoint)
    except OSError:
        return cls(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size})


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

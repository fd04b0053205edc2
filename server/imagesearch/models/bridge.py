"""The class-name matrix that bridges the ImageNet classifier into the MiniLM text space.

Row c is the unit MiniLM embedding of ImageNet class c's name, averaged over the prompt
templates below. The image model turns its class probabilities p into a text-image
vector normalise(sum over its top classes of p_c * row_c) (see
model_repository/image_embedding/1/bridge.py and docs/quality.md for the measurements).

Class names: data/imagenet_classes.json, the cleaned-up names of OpenAI's CLIP ImageNet
zero-shot evaluation as shipped by open_clip (MIT), committed so set-up needs no download.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np

# A few plain photo prompts: embedding the bare name lets MiniLM read "crane" or "mouse"
# as whatever sense is commonest in text; "a photo of" pulls it towards the visual one.
TEMPLATES: tuple[str, ...] = ("a photo of a {}.", "a photo of the {}.", "a close-up photo of a {}.")
BATCH = 256


def class_names() -> list[str]:
    """The 1,000 ImageNet class names in the classifier's output order."""
    raw = resources.files("imagesearch.models").joinpath("data/imagenet_classes.json").read_text("utf-8")
    return list(json.loads(raw)["classes"])


def export_class_embeddings(out_path: Path) -> None:
    """Write the [1000, 384] float32 class-name matrix to `out_path` (an .npy file).

    Raises ImportError without the `export` extras (torch, transformers, the MiniLM package).
    """
    from imagesearch.models.minilm import build_torch_model

    matrix = class_embeddings(build_torch_model(), class_names(), TEMPLATES)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(out_path.name + ".tmp.npy")
    try:
        np.save(tmp_path, matrix)
        tmp_path.replace(out_path)
    finally:
        tmp_path.unlink(missing_ok=True)


def class_embeddings(model, names: list[str], templates: tuple[str, ...]) -> np.ndarray:
    """Unit rows: per class, the normalised mean of its prompted names' MiniLM embeddings."""
    import torch

    from imagesearch.models.minilm import tokenize

    total = np.zeros((len(names), 0), np.float32)
    for template in templates:
        prompts = [template.format(name) for name in names]
        parts = []
        for start in range(0, len(prompts), BATCH):
            ids, mask = tokenize(prompts[start:start + BATCH])
            with torch.no_grad():
                parts.append(model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy())
        embedded = np.concatenate(parts)
        total = embedded if total.shape[1] == 0 else total + embedded
    return (total / np.linalg.norm(total, axis=1, keepdims=True)).astype(np.float32)

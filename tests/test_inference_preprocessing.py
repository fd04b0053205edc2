"""Decoding in the image_embedding model (in-process: the module has no Triton imports)."""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT
from images import png_declaring

_SPEC = importlib.util.spec_from_file_location(
    "image_embedding_preprocessing",
    REPO_ROOT / "model_repository" / "image_embedding" / "1" / "preprocessing.py",
)
preprocessing = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(preprocessing)

MAX_PIXELS = 64_000_000


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def gradient(size: tuple[int, int] = (320, 240)) -> Image.Image:
    x = np.linspace(0, 255, size[0], dtype=np.uint8)
    y = np.linspace(0, 255, size[1], dtype=np.uint8)
    rgb = np.stack(np.broadcast_arrays(x[None, :], y[:, None], 255 - x[None, :]), axis=-1)
    return Image.fromarray(np.ascontiguousarray(rgb), "RGB")


@pytest.mark.parametrize(
    "data",
    [
        encode(gradient().convert("P"), "PNG"),
        encode(gradient().convert("P"), "GIF", transparency=0),
        encode(gradient().convert("RGBA"), "PNG"),
        encode(gradient().convert("LA"), "PNG"),
        encode(gradient().convert("L"), "JPEG"),
        encode(gradient().convert("CMYK"), "JPEG"),
        encode(gradient().convert("L").convert("I;16"), "PNG"),
        encode(gradient(), "WEBP"),
        encode(gradient(), "BMP"),
        encode(gradient(), "TIFF"),
    ],
    ids=["palette", "gif-transparent", "rgba", "la", "grey-jpeg", "cmyk-jpeg", "16-bit",
         "webp", "bmp", "tiff"],
)
def test_any_mode_becomes_normalised_rgb_pixels(data: bytes) -> None:
    pixels = preprocessing.to_pixels(preprocessing.decode_rgb(data, MAX_PIXELS))
    assert pixels.shape == (3, 224, 224) and pixels.dtype == np.float32
    assert -1.0 <= pixels.min() and pixels.max() <= 1.0
    assert pixels.std() > 0.05  # the picture survived, not a flat fill


def test_transparent_pixels_become_white() -> None:
    clear = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    pixels = preprocessing.to_pixels(preprocessing.decode_rgb(encode(clear, "PNG"), MAX_PIXELS))
    np.testing.assert_allclose(pixels, 1.0)


def test_exif_orientation_is_applied() -> None:
    wide = gradient((400, 240))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, displayed rotated 90 degrees: portrait
    image = preprocessing.decode_rgb(encode(wide, "JPEG", exif=exif), MAX_PIXELS)
    assert image.width < image.height


def test_large_jpeg_is_decoded_in_draft_mode_to_at_least_the_model_size() -> None:
    image = preprocessing.decode_rgb(encode(gradient((4000, 3000)), "JPEG"), MAX_PIXELS)
    assert 224 <= min(image.size) < 3000 / 4
    assert image.mode == "RGB"


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty"),
        (b"GIF89a garbage", None),
        (png_declaring(9000, 9000), "more than the limit"),
        (png_declaring(50000, 50000), "pixels"),
    ],
)
def test_bad_images_raise_invalid_image(data: bytes, reason: str) -> None:
    with pytest.raises(preprocessing.InvalidImage, match=reason):
        preprocessing.decode_rgb(data, MAX_PIXELS)

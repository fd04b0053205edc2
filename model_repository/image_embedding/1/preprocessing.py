"""Turn encoded image bytes into the normalised pixel tensor the ONNX model takes.

Pure Pillow + NumPy, no Triton imports, so tests can check it in-process. The Python
backend puts this version directory on sys.path, which is how model.py imports it.
"""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator, NamedTuple

import numpy as np
from PIL import Image, ImageOps

IMAGE_SIZE = 224
# Flattening transparent images onto white matches how they look in a browser, which is
# how people picked them; black would turn logos and cut-outs into silhouettes.
BACKGROUND = (255, 255, 255)


class InvalidImage(ValueError):
    """The bytes are not an image this model can embed; the message says why."""


class Decoded(NamedTuple):
    """A decoded upright RGB image and the upright size of the full-resolution original
    (JPEG draft decoding may have scaled it down; positions found in `image` map back to
    the original by original_size[0] / image.width). A NamedTuple, not a dataclass: tests
    load this file without registering it as a module, which dataclasses need."""

    image: Image.Image
    original_size: tuple[int, int]


def decode_rgb(data: bytes, max_pixels: int) -> Image.Image:
    """Decode `data` into an upright RGB image at least IMAGE_SIZE on its shorter side.

    The pixel count is checked from the header before any pixel data is decoded, so a
    small file declaring huge dimensions (a decompression bomb) costs nothing. JPEGs are
    decoded in draft mode: libjpeg scales by 1/2, 1/4 or 1/8 while decoding, which is
    several times faster than decoding full size and resizing afterwards.
    """
    return _decode(data, max_pixels, _draft_request).image


def decode_rgb_long_side(data: bytes, max_pixels: int, long_side: int) -> Decoded:
    """Like decode_rgb, but the JPEG draft keeps the longer side >= `long_side` (face
    detection wants resolution where the embedding models want a 224 square)."""

    def request(width: int, height: int) -> tuple[int, int]:
        scale = long_side / max(width, height)
        return (max(1, round(width * scale)), max(1, round(height * scale)))

    return _decode(data, max_pixels, request)


def _decode(data: bytes, max_pixels: int, draft_request: Callable[[int, int], tuple[int, int]]) -> Decoded:
    """decode_rgb's work, with the JPEG draft size chosen by `draft_request(width, height)`."""
    stored = open_as_stored(data, max_pixels, draft_request)
    with _invalid_image_errors():
        image = ImageOps.exif_transpose(stored.image)
        width, height = stored.original_size
        # Orientations 5-8 swap the axes; draft scaling keeps the aspect ratio.
        swapped = (image.width > image.height) != (width > height)
        return Decoded(_to_rgb(image), (height, width) if swapped else (width, height))


def open_as_stored(data: bytes, max_pixels: int, draft_request: Callable[[int, int], tuple[int, int]]) -> Decoded:
    """The decoded image as the file stores it (no EXIF rotation, mode unchanged) and the
    file's own size; JPEGs in draft mode at `draft_request(width, height)`.

    The pixel count is checked from the header before any pixel data is decoded. Shared by
    every decode here and by image_analysis's decode-once (which converts per consumer).
    """
    if not data:
        raise InvalidImage("empty input")
    with _invalid_image_errors(), warnings.catch_warnings():
        # Our own limit below applies; Pillow's bomb warning would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data))
        width, height = image.size
        if width <= 0 or height <= 0:
            raise InvalidImage(f"image has no pixels ({width}x{height})")
        if width * height > max_pixels:
            raise InvalidImage(f"image is {width}x{height} pixels, more than the limit of {max_pixels}")
        if image.format == "JPEG":
            # Draft keeps both sides >= the request, so the later resize still downsamples.
            image.draft("RGB", draft_request(width, height))
        image.load()
        return Decoded(image, (width, height))


@contextmanager
def _invalid_image_errors() -> Iterator[None]:
    """Pillow's many failure types as InvalidImage, the one error the models report."""
    try:
        yield
    except InvalidImage:
        raise
    except Image.UnidentifiedImageError as exc:
        raise InvalidImage("not a recognised image format") from exc
    except Image.DecompressionBombError as exc:
        # Pillow's own check fires first at twice its default limit, from the header too.
        raise InvalidImage(str(exc)) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        # Pillow reports unknown formats, truncation and corrupt data through these.
        raise InvalidImage(str(exc) or type(exc).__name__) from exc


def decode_rgb_array(data: bytes, max_pixels: int) -> np.ndarray:
    """Encoded bytes -> upright RGB uint8 array [H, W, 3] at full resolution (InvalidImage if unusable).

    What a model that needs every pixel takes (OCR reads small text, so no draft scaling);
    EXIF orientation is applied as in decode_rgb.
    """
    return np.asarray(_decode(data, max_pixels, lambda width, height: (width, height)).image)


def to_pixels(image: Image.Image) -> np.ndarray:
    """Resize an RGB image to IMAGE_SIZE square and scale to [-1, 1], as float32 [3, H, W].

    The whole image is squashed to a square rather than centre-cropped: class precision
    on Corel-1K is the same either way, but a query that is a crop, a letterboxed or a
    recompressed copy of an indexed image finds it more often when nothing is cut away
    (numbers in config.pbtxt).
    """
    resized = image.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BILINEAR)
    pixels = np.asarray(resized, dtype=np.float32)
    # mean = std = 0.5 on [0, 1] values, i.e. x / 127.5 - 1 on bytes.
    return (pixels * (1.0 / 127.5) - 1.0).transpose(2, 0, 1)


def _draft_request(width: int, height: int) -> tuple[int, int]:
    """The draft size that keeps the shorter side >= IMAGE_SIZE, preserving aspect ratio."""
    scale = IMAGE_SIZE / min(width, height)
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode (palette, alpha, greyscale, CMYK, 16-bit) to RGB."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        # Palette images may carry transparency in their info; RGBA makes it explicit.
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit and float greyscale would saturate in a plain convert: rescale to 8 bits.
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        span = high - low or 1.0
        grey = ((values - low) * (255.0 / span)).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    return image.convert("RGB")


# CLIP exporters name these (OpenCLIP's preprocess config uses the same words).
RESIZE_MODES = ("shortest", "squash")
RESAMPLING = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def to_clip_pixels(
    image: Image.Image,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    resize_mode: str = "shortest",
    interpolation: str = "bicubic",
) -> np.ndarray:
    """CLIP's preprocessing, as float32 [3, size, size] normalised per channel by `mean`, `std`.

    "shortest": shorter side to `size`, then the centre `size` square (OpenAI's and most
    checkpoints'); "squash": the whole image resized to `size` square. The longer side
    is truncated as torchvision's and Hugging Face's resizes do, so pixels match theirs.
    """
    resample = RESAMPLING[interpolation]
    if resize_mode == "squash":
        cropped = image.resize((size, size), resample)
    elif resize_mode == "shortest":
        width, height = image.size
        scale = size / min(width, height)
        resized = image.resize((max(size, int(width * scale)), max(size, int(height * scale))), resample)
        left, top = (resized.width - size) // 2, (resized.height - size) // 2
        cropped = resized.crop((left, top, left + size, top + size))
    else:
        raise ValueError(f"unknown resize mode {resize_mode!r}; expected one of {RESIZE_MODES}")
    pixels = np.asarray(cropped, dtype=np.float32) * (1.0 / 255.0)
    pixels = (pixels - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return pixels.transpose(2, 0, 1).astype(np.float32)

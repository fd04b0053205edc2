"""Decode an image once and derive from it every input an insert needs.

One decode serves three consumers, so they must agree on how it is done:
- the fingerprint (thumbnail and pHash), computed exactly as the API server's
  dedup/fingerprint.py did from its own decode, so new fingerprints stay comparable
  with stored ones (tests/test_image_analysis.py checks bit-identity on Corel-1K);
- the image encoder's pixels (image_embedding/1/preprocessing.py: upright, RGB, 224x224);
- open_nsfw's pixels (the package's own preprocessing, on the image as stored: no
  EXIF rotation, plain RGB conversion, as the nsfw model does).

JPEGs are decoded in draft mode (libjpeg scales by 1/2..1/8 while decoding) at the finer
of the two scales the fingerprint and the encoder ask for. Where both pick the same scale
(Corel-1K; 4032x3024 and 1920x1080 photos) every output is bit-identical to the separate
decodes; where the encoder alone would pick a coarser one (shorter side in [448, 512),
[896, 1024) or [1792, 2048) pixels) it gets a decode twice as fine, and the NSFW model,
which decoded full size before, gets the draft (it resizes to 256 anyway).

Pure Pillow + NumPy (no Triton imports) so tests load it in-process.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image, ImageOps

from preprocessing import InvalidImage, _to_rgb, open_as_stored, to_pixels
from preprocessing import _draft_request as encoder_draft_request

# dedup/fingerprint.py's constants: change them together.
THUMB_SIZE = 128
HASH_SIZE = 8
HASH_SAMPLE = 32
FINGERPRINT_DRAFT = (THUMB_SIZE * 2, THUMB_SIZE * 2)


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


DCT = _dct_matrix(HASH_SAMPLE)


class FingerprintParts(NamedTuple):
    """What the API server's fingerprint needs besides the bytes' SHA-256."""

    thumb: np.ndarray  # THUMB_SIZE x THUMB_SIZE uint8 grey
    phash: int  # 64-bit DCT perceptual hash


def decode_once(data: bytes, max_pixels: int) -> Image.Image:
    """The decoded image, not rotated or converted (InvalidImage when unusable), at the finer
    of the draft scales the encoder and the fingerprint ask for."""
    return open_as_stored(data, max_pixels, _draft_request).image


def _draft_request(width: int, height: int) -> tuple[int, int]:
    encoder = encoder_draft_request(width, height)
    return (max(encoder[0], FINGERPRINT_DRAFT[0]), max(encoder[1], FINGERPRINT_DRAFT[1]))


def encoder_pixels(image: Image.Image) -> np.ndarray:
    """image_embedding's input: upright, RGB (transparency on white), float32 [3, 224, 224]."""
    try:
        upright = ImageOps.exif_transpose(image)
        return to_pixels(_to_rgb(upright))
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InvalidImage(str(exc) or type(exc).__name__) from exc


def nsfw_rgb(image: Image.Image) -> Image.Image:
    """open_nsfw's input image, converted as the nsfw model converts it."""
    return image.convert("RGB")


def fingerprint_parts(image: Image.Image) -> FingerprintParts:
    """Thumbnail and pHash, as dedup/fingerprint.fingerprint computes them."""
    grey = image.convert("L")
    thumb = np.asarray(grey.resize((THUMB_SIZE, THUMB_SIZE), Image.Resampling.BOX), dtype=np.uint8)
    sample = grey.resize((HASH_SAMPLE, HASH_SAMPLE), Image.Resampling.BOX)
    coefficients = DCT @ np.asarray(sample, dtype=np.float64) @ DCT.T
    low = coefficients[:HASH_SIZE, :HASH_SIZE].reshape(-1)
    bits = low > np.median(low[1:])
    return FingerprintParts(thumb, int.from_bytes(np.packbits(bits).tobytes(), "big"))

"""Fingerprints of an image's content: SHA-256 of its bytes and a 64-bit perceptual hash.

The perceptual hash is the classic DCT pHash: the image as 32x32 grey, its 2-D DCT, and
one bit per low-frequency coefficient (the top-left 8x8 block) saying whether it is above
their median. Small edits (re-encoding, resizing, brightness) flip few bits; a different
photo flips about half. It runs in the API process, on a JPEG decoded at reduced scale
(Pillow's draft mode), which costs about a millisecond for a typical photo.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

HASH_SIZE = 8
SAMPLE_SIZE = 32


def _dct_matrix(n: int) -> np.ndarray:
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


DCT = _dct_matrix(SAMPLE_SIZE)


@dataclass(frozen=True)
class Fingerprint:
    """What duplicate detection knows of an image."""

    sha256: str  # hex digest of the encoded bytes
    phash: int  # 64-bit perceptual hash


def perceptual_hash(image: Image.Image) -> int:
    """The 64-bit DCT hash of a decoded image."""
    grey = image.convert("L").resize((SAMPLE_SIZE, SAMPLE_SIZE), Image.Resampling.BOX)
    coefficients = DCT @ np.asarray(grey, dtype=np.float64) @ DCT.T
    low = coefficients[:HASH_SIZE, :HASH_SIZE].reshape(-1)
    # The DC term (overall brightness) is left out of the median so it cannot skew it.
    bits = low > np.median(low[1:])
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def fingerprint(data: bytes) -> Fingerprint:
    """SHA-256 and pHash of encoded image bytes (already header-checked by the caller)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data)) as image:
            # JPEG decodes at 1/2..1/8 scale on request: a 32x32 sample needs no more.
            image.draft("RGB", (SAMPLE_SIZE * 4, SAMPLE_SIZE * 4))
            image.seek(0)
            phash = perceptual_hash(image)
    return Fingerprint(sha256=hashlib.sha256(data).hexdigest(), phash=phash)


def hamming(a: int, b: int) -> int:
    """Number of differing bits of two hashes."""
    return (a ^ b).bit_count()

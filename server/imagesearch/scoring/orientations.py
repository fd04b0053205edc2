"""The query's four rotations, for the copies search mode.

The embedding squashes the whole image to a square (model_repository/image_embedding),
so rotating the image by 90 degrees rotates the network's input exactly: the original
of a rotated copy is the nearest neighbour of the query turned back. Mirrors need no
extra encode: the embedding is nearly mirror-invariant (a mirrored copy ranks its
original first as often as an unedited re-encode does; docs/quality.md) and the
thumbnail alignment tries both mirror images.

Rotating in the API process costs a decode at draft scale, three transposes and three
JPEG encodes (quality 95) of a picture <= QUERY_SIDE on its long side: 3.3 ms of CPU for
a 384x256 Corel photo (PNG at compress level 1: 37 ms, measured in the same run), then
three more runs of the image model: the copies mode costs ~4x an image query.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from imagesearch.dedup.fingerprint import Fingerprint, perceptual_hash

# The long side rotated queries are cut to: twice the model's 224 input, so the model's
# own resize still averages several pixels per input pixel, as for the original.
QUERY_SIDE = 448
# Quarter turns counter-clockwise, as np.rot90 counts them.
TURNS = (1, 2, 3)
_TRANSPOSE = {1: Image.Transpose.ROTATE_90, 2: Image.Transpose.ROTATE_180, 3: Image.Transpose.ROTATE_270}


def rotated_queries(data: bytes) -> dict[int, bytes]:
    """The image turned by 1, 2 and 3 quarter turns (counter-clockwise), as JPEG bytes."""
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (QUERY_SIDE, QUERY_SIDE))
        rgb = image.convert("RGB")
    rgb.thumbnail((QUERY_SIDE, QUERY_SIDE), Image.Resampling.BILINEAR)
    out = {}
    for turns in TURNS:
        buffer = io.BytesIO()
        rgb.transpose(_TRANSPOSE[turns]).save(buffer, format="JPEG", quality=95)
        out[turns] = buffer.getvalue()
    return out


def turned(fp: Fingerprint, turns: int) -> Fingerprint:
    """The fingerprint of the image turned by `turns` quarter turns: the thumbnail (the
    whole frame squashed to a square) turns exactly; the hash is taken again from it."""
    if turns % 4 == 0:
        return fp
    thumb = np.ascontiguousarray(np.rot90(fp.thumb, turns))
    return Fingerprint(sha256=fp.sha256, phash=perceptual_hash(Image.fromarray(thumb, mode="L")), thumb=thumb)

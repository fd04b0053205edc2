"""A perceptual hash of the stored thumbnail in all eight orientations (four quarter turns,
mirrored or not), from one DCT, for finding turned and mirrored copies through a payload
index instead of extra encodes.

The thumbnail (fingerprint.py: the whole frame squashed to 128x128 grey) of a copy turned
by 90 degrees is the original's thumbnail turned, up to re-encoding. So the hash is taken
from the thumbnail (4x4 box means to 32x32, the same DCT and bit rule as the pHash), and a
turn or mirror of the image is a signed transpose of the DCT coefficients: mirroring the
columns negates the odd horizontal frequencies, np.rot90 (flip of the transpose) transposes
and negates the odd vertical ones. One DCT gives all eight hashes.

Only the upright hash is stored, as HASH_CHUNKS position-tagged 16-bit chunks in one
integer list (payload `fingerprint.turn_hash`, integer-indexed); an image looks up stored
items sharing any chunk with any of its eight hashes (one MatchAny of 32 values). Two
hashes within CHUNK_GUARANTEE bits share a chunk (pigeonhole); copies further apart are
often found too. Being derived from the stored thumbnail, the field is filled for items
stored before it existed without their originals (reprocess FILL; FindDuplicates computes
it on the fly).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imagesearch.dedup.fingerprint import DCT, HASH_SAMPLE, HASH_SIZE, THUMB_SIZE
from imagesearch.store.filters import FINGERPRINT_FIELD, MatchAny

TURN_HASH_KEY = "turn_hash"
HASH_CHUNKS = 4
CHUNK_BITS = 64 // HASH_CHUNKS
CHUNK_GUARANTEE = HASH_CHUNKS - 1
_BOX = THUMB_SIZE // HASH_SAMPLE
_ODD = (-1.0) ** np.arange(HASH_SAMPLE)


@dataclass(frozen=True)
class Orientation:
    """np.rot90(np.fliplr(x) if mirrored else x, turns): how an image is laid on another."""

    turns: int
    mirrored: bool

    def apply(self, thumb: np.ndarray) -> np.ndarray:
        """The thumbnail in this orientation."""
        return np.ascontiguousarray(np.rot90(thumb[:, ::-1] if self.mirrored else thumb, self.turns))

    def coefficients(self, dct: np.ndarray) -> np.ndarray:
        """The DCT of the image in this orientation, from the DCT of the upright image."""
        odd = _ODD[: dct.shape[0]]  # the full 32x32 or its low 8x8 corner
        out = dct * odd[None, :] if self.mirrored else dct
        for _ in range(self.turns):
            out = out.T * odd[:, None]  # rot90 = flipud(transpose)
        return out


ORIENTATIONS: tuple[Orientation, ...] = tuple(Orientation(t, m) for m in (False, True) for t in range(4))
UPRIGHT = ORIENTATIONS[0]


def thumb_dct(thumb: np.ndarray) -> np.ndarray:
    """The 32x32 DCT of the thumbnail's 4x4 box means."""
    sample = thumb.astype(np.float64).reshape(HASH_SAMPLE, _BOX, HASH_SAMPLE, _BOX).mean(axis=(1, 3))
    return DCT @ sample @ DCT.T


def _bits_to_int(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def hash_of_dct(dct: np.ndarray) -> int:
    """The 64-bit hash of DCT coefficients: a bit per low frequency, set above their median
    (the DC term left out of the median), as fingerprint.perceptual_hash."""
    low = dct[:HASH_SIZE, :HASH_SIZE].reshape(-1)
    return _bits_to_int(low > np.median(low[1:]))


def turn_hashes(thumb: np.ndarray) -> dict[Orientation, int]:
    """The hash of the thumbnail in each of the eight orientations (hash_of_dct of each
    orientation's coefficients, the eight medians taken at once)."""
    low = thumb_dct(thumb)[:HASH_SIZE, :HASH_SIZE]
    blocks = np.stack([o.coefficients(low) for o in ORIENTATIONS]).reshape(len(ORIENTATIONS), -1)
    bits = blocks > np.median(blocks[:, 1:], axis=1, keepdims=True)
    return {o: int.from_bytes(row.tobytes(), "big") for o, row in zip(ORIENTATIONS, np.packbits(bits, axis=1))}


def chunks(value: int) -> list[int]:
    """The hash's HASH_CHUNKS chunks, each tagged with its position (chunk i + i * 2**16),
    so one integer list holds them and a lookup matches position for position."""
    mask = (1 << CHUNK_BITS) - 1
    return [
        (i << CHUNK_BITS) | ((value >> (64 - CHUNK_BITS * (i + 1))) & mask) for i in range(HASH_CHUNKS)
    ]


def from_chunks(stored: list[int]) -> int:
    """The hash back from its stored chunks."""
    mask = (1 << CHUNK_BITS) - 1
    value = 0
    for tagged in sorted(stored, key=lambda c: c >> CHUNK_BITS):
        value = (value << CHUNK_BITS) | (tagged & mask)
    return value


def lookup_values(hashes: dict[Orientation, int]) -> tuple[int, ...]:
    """The chunk values a stored item shares with one of these hashes if it is within
    CHUNK_GUARANTEE bits of it (sorted, distinct)."""
    return tuple(sorted({c for value in hashes.values() for c in chunks(value)}))


def closest(hashes: dict[Orientation, int], stored: int) -> tuple[int, Orientation]:
    """The Hamming distance of `stored` to the nearest of `hashes`, and that orientation:
    the image laid that way matches the stored item."""
    return min((((value ^ stored).bit_count(), o) for o, value in hashes.items()), key=lambda pair: pair[0])


TURN_HASH_PATH = f"{FINGERPRINT_FIELD}.{TURN_HASH_KEY}"
# FindDuplicates' in-memory index looks at the most recent items of a chunk only: a chunk
# shared by very many items (flat or near-identical images) would otherwise make the scan
# quadratic; linking each item to a few recent matches keeps such groups connected.
BUCKET_SCAN = 64


def lookup_condition(hashes: dict[Orientation, int]) -> MatchAny:
    """Stored items sharing a chunk with one of `hashes` (an integer payload index)."""
    return MatchAny(TURN_HASH_PATH, lookup_values(hashes))


class TurnHashIndex:
    """The upright hashes of the items seen so far, by chunk, in memory: FindDuplicates'
    lookup, which needs no stored field (items stored before it existed are covered)."""

    def __init__(self, max_distance: int, limit: int) -> None:
        self._max_distance = max_distance
        self._limit = limit
        self._by_chunk: dict[int, list[str]] = {}
        self._upright: dict[str, int] = {}

    def add(self, item_id: str, hashes: dict[Orientation, int]) -> list[str]:
        """Record an item; the items seen before whose upright hash is within max_distance
        of one of its orientations (the `limit` nearest). A turned pair is met once, from
        its later item: if b is a laid on its side, a is b laid back."""
        seen: set[str] = set()
        for value in lookup_values(hashes):
            seen.update(self._by_chunk.get(value, ())[-BUCKET_SCAN:])
        near = sorted((closest(hashes, self._upright[other])[0], other) for other in seen)
        upright = hashes[UPRIGHT]
        self._upright[item_id] = upright
        for value in chunks(upright):
            self._by_chunk.setdefault(value, []).append(item_id)
        return [other for distance, other in near if distance <= self._max_distance][: self._limit]

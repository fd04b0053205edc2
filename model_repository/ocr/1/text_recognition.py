"""PP-OCR line crops, the 0/180 degree line classifier and CTC recognition, batched.

Pure NumPy + OpenCV so tests can run it in-process. Inputs are BGR (PaddleOCR's
training order). Crops are sorted by aspect ratio and recognised in chunks padded to the
widest crop of the chunk, so short words are not padded to the width of a long line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

REC_HEIGHT = 48
# The recogniser's nominal input is 48x320; wider crops widen the batch.
REC_MIN_RATIO = 320 / 48
CLS_SHAPE = (48, 192)
# The classifier must be this sure before a line is turned by 180 degrees (PaddleOCR's value).
CLS_THRESHOLD = 0.9
# A crop this much taller than wide is a vertical line: turned 90 degrees before reading.
VERTICAL_RATIO = 1.5


@dataclass(frozen=True)
class Reading:
    """One recognised crop: its text and the mean probability of its characters."""

    text: str
    confidence: float


def crop_line(image: np.ndarray, box: np.ndarray) -> np.ndarray:
    """The quadrilateral `box` [4, 2] of `image` warped to an upright rectangle."""
    width = int(max(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[2] - box[3])))
    height = int(max(np.linalg.norm(box[0] - box[3]), np.linalg.norm(box[1] - box[2])))
    width, height = max(width, 1), max(height, 1)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    matrix = cv2.getPerspectiveTransform(box.astype(np.float32), target)
    crop = cv2.warpPerspective(
        image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC
    )
    if height >= VERTICAL_RATIO * width:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def _resize_pad(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    """`crop` resized to `height` keeping its aspect (at most `width`), zero-padded right; [3, H, W]."""
    ratio = crop.shape[1] / float(crop.shape[0])
    resized_w = min(width, int(math.ceil(height * ratio)))
    resized = cv2.resize(crop, (max(1, resized_w), height)).astype(np.float32)
    padded = np.zeros((3, height, width), np.float32)
    padded[:, :, : resized.shape[1]] = resized.transpose(2, 0, 1) * (2.0 / 255.0) - 1.0
    return padded


def upside_down(session, crops: list[np.ndarray]) -> list[bool]:
    """Per crop, whether the line classifier is CLS_THRESHOLD sure it is upside down."""
    if not crops:
        return []
    batch = np.stack([_resize_pad(crop, *CLS_SHAPE) for crop in crops])
    (probabilities,) = session.run(None, {session.get_inputs()[0].name: batch})
    return [bool(p[1] > CLS_THRESHOLD) for p in probabilities]


def read_upright(session, reader: "CtcReader", crops: list[np.ndarray]) -> list["Reading"]:
    """One Reading per crop, turned by 180 degrees where the classifier says so -- but a
    turned crop is also read as it was, and the more confident reading kept.

    The classifier sees a line squeezed into 48x192: on a long line (the 9:1 red-on-dark
    "24H专业健身|本座3F" of the sample shop sign) it was 0.999 sure of "upside down" and the
    turned crop read "24" (0.66) where the crop as it was reads the whole line (0.93).
    Costs one more recognition per turned crop only.
    """
    flipped = upside_down(session, crops)
    turned = [cv2.rotate(crop, cv2.ROTATE_180) if flip else crop for crop, flip in zip(crops, flipped)]
    second = [i for i, flip in enumerate(flipped) if flip]
    readings = reader.read(turned + [crops[i] for i in second])
    best = readings[: len(crops)]
    for i, other in zip(second, readings[len(crops):]):
        if other.confidence > best[i].confidence:
            best[i] = other
    return best


class CtcReader:
    """The recognition network and its character list (read from the ONNX file's metadata)."""

    def __init__(self, session, chunk: int) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        characters = session.get_modelmeta().custom_metadata_map["character"].splitlines()
        # Index 0 is CTC's blank; PaddleOCR appends the space as the last class.
        self._characters = ["", *characters, " "]
        self._chunk = chunk

    def read(self, crops: list[np.ndarray]) -> list[Reading]:
        """One Reading per crop, in the order given."""
        readings: list[Reading | None] = [None] * len(crops)
        order = np.argsort([crop.shape[1] / crop.shape[0] for crop in crops], kind="stable")
        for start in range(0, len(order), self._chunk):
            indices = order[start : start + self._chunk]
            ratio = max(REC_MIN_RATIO, *(crops[i].shape[1] / crops[i].shape[0] for i in indices))
            width = int(REC_HEIGHT * ratio)
            batch = np.stack([_resize_pad(crops[i], REC_HEIGHT, width) for i in indices])
            (probabilities,) = self._session.run(None, {self._input: batch})
            for index, row in zip(indices, probabilities):
                readings[index] = self._decode(row)
        return readings  # type: ignore[return-value]

    def _decode(self, row: np.ndarray) -> Reading:
        """Greedy CTC: best class per step, repeats merged, blanks dropped."""
        best = row.argmax(axis=1)
        keep = np.ones(len(best), bool)
        keep[1:] = best[1:] != best[:-1]
        keep &= best != 0
        if not keep.any():
            return Reading("", 0.0)
        text = "".join(self._characters[i] for i in best[keep])
        return Reading(text, float(row.max(axis=1)[keep].mean()))

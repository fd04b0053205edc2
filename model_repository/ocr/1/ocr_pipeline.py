"""The OCR pipeline on one decoded RGB image: gate, detection, line orientation, recognition.

Pure NumPy + OpenCV + ONNX Runtime sessions passed in, so the same code runs in the Triton
model and in-process in tests and benchmarks. Boxes are in the pixel coordinates of the
image as given (model.py passes it upright, EXIF orientation applied).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from text_detection import (
    DetectionParams, boxes_from_map, det_input, grow_box, merge_pieces, order_clockwise, reading_order,
)
from text_recognition import CtcReader, crop_line, read_upright


@dataclass(frozen=True)
class PipelineParams:
    """Every threshold of the pipeline; model.py fills it from config.pbtxt's parameters."""

    # Detection runs with the shorter side scaled up to this (PaddleOCR's limit_type "min")...
    det_min_side: int = 480
    # ... and the longer side at most this (RapidOCR's max_side_len).
    det_max_side: int = 2000
    # The gate: detection with the shorter side at this size first (0: no gate); no box
    # there (at gate_box_threshold), no full reading. Its boxes (at the detection's own
    # threshold) are also read beside those found at det_min_side: the DB detector finds
    # big text at this scale that it breaks up or misses at 480 (docs/quality.md, OCR).
    gate_side: int = 256
    gate_box_threshold: float = 0.3
    # The gate map's pixel threshold (the detection's own when None), and the side of a
    # second map, computed only on images the gate let through, whose boxes are read
    # beside the full pass's (0: the gate's own map). Tried (docs/quality.md, OCR round
    # 5): a gate at 224 with 0.15 / 0.1 and coarse_side 256 lets as many rendered photos
    # through for 1.8x the image encoder instead of 2.9x, but more text-free photos and 2
    # fewer strings found first: not the default.
    gate_pixel_threshold: float | None = None
    coarse_side: int = 0
    # The gate also reads its boxes and stops when none reads as text (min_confidence).
    gate_read: bool = False
    # Also read one box per run of aligned neighbouring boxes (text_detection.merge_pieces).
    merge_pieces: bool = True
    # Lines read with a lower mean character probability are dropped (RapidOCR's text_score).
    min_confidence: float = 0.5
    # Whole-image rotations are tried only when the boxes found read this badly (mean
    # confidence over all boxes, unreadable ones counting 0); 0: never (the default,
    # measured in config.pbtxt).
    retry_below: float = 0.0
    rec_chunk: int = 8
    # Detection also runs on the image turned by each of these angles (degrees, counter-
    # clockwise) with its shorter side at tilt_side, on images the gate let through; the
    # boxes are mapped back. Measured (docs/quality.md, OCR): +20/-20 at 256 found 6 more
    # of 300 rendered strings and 27 more of 1,425 code substrings, as many as at 480 for
    # less cost. (): off.
    tilt_angles: tuple[float, ...] = (20.0, -20.0)
    tilt_side: int = 256
    # Also boxes from the 480 map grown by this unclip ratio (0: off). Measured at 1.0: +1
    # string, +4 substrings of 1,425, for a second reading of every box: off.
    tight_unclip: float = 0.0
    # Read the boxes of the other passes (gate, tilted, tight) that overlap a found one
    # too, and keep the best reading of each region (_best_per_region). Measured: +5
    # strings, +9 substrings.
    read_alternatives: bool = True
    # Detection also runs on a contrast-equalised copy (CLAHE on the lightness, clip limit
    # enhance_clip) with its shorter side at enhance_side (0: off), on images the gate let
    # through; its boxes join the tilted ones. Low-contrast text over texture. The defaults
    # are config.pbtxt's (bench/ measures the pipeline with them).
    enhance_side: int = 480
    enhance_clip: float = 2.0
    # The second detector (PP-OCRv5 mobile, det2.onnx) runs with the shorter side at this
    # (0: off) on images the gate let through; its boxes join the tilted ones.
    det2_side: int = 480
    # Each box found is also read grown by this many of its heights at both ends of its
    # long axis, as an alternative reading of its region (0: off): the detector often
    # boxes part of a line ("SKU" of "SKU-67953-PZ"). Measured on the 300 renders: 1.0
    # found 13 more strings and 22 more code substrings first; 2.0 10 and 46, but it read
    # the sample poster's "-40℃" as "-40C" joined to the next characters, and a Corel
    # photo's "140" then ranked first for "-40°C" (docs/quality.md, OCR round 5).
    extend_heights: float = 1.0
    detection: DetectionParams = field(default_factory=DetectionParams)


@dataclass(frozen=True)
class Line:
    """One recognised line: its text, mean character probability and box (4 points, clockwise from top-left)."""

    text: str
    confidence: float
    box: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class _Attempt:
    lines: list[Line]
    quality: float


# Whole-image rotations tried, in this order, when the lines read badly (_unrotate maps boxes back).
_ROTATIONS = (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE, cv2.ROTATE_180)


class OcrPipeline:
    """Owns the ONNX Runtime sessions (detection, line classifier, recognition, and the
    optional second detector)."""

    def __init__(self, det_session, cls_session, rec_session, params: PipelineParams, det2_session=None) -> None:
        self._det = det_session
        self._det2 = det2_session
        self._cls = cls_session
        self._reader = CtcReader(rec_session, params.rec_chunk)
        self._params = params

    def read(self, rgb: np.ndarray) -> list[Line]:
        """The lines of text in an RGB uint8 image [H, W, 3], in reading order; [] when there are none."""
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        bgr, top = _pad_strip(bgr)
        coarse: list[tuple[np.ndarray, float]] = []
        if self._params.gate_side:
            gate, coarse = self._gate(bgr)
            if not gate or (self._params.gate_read and not self._reads_any(bgr, gate)):
                return []
        best = self._attempt(bgr, coarse)
        if 0 < best.quality < self._params.retry_below:
            for code in _ROTATIONS:
                rotated = self._attempt(cv2.rotate(bgr, code), [])
                if rotated.quality > best.quality:
                    best = _Attempt([_unrotate(line, code, bgr.shape) for line in rotated.lines], rotated.quality)
        return [_shift(line, -top, rgb.shape) for line in best.lines]

    def has_text(self, bgr: np.ndarray) -> bool:
        """Whether the low-resolution gate lets the image through (finds a box; with
        gate_read, one that reads as text)."""
        gate = self._gate(bgr)[0]
        return bool(gate) and (not self._params.gate_read or self._reads_any(bgr, gate))

    def _gate(self, bgr: np.ndarray) -> tuple[list[tuple[np.ndarray, float]], list[tuple[np.ndarray, float]]]:
        """The gate pass: its boxes at gate_box_threshold (none: no text), and at the
        detection threshold (read beside the full pass's)."""
        height, width = bgr.shape[:2]
        params = self._params
        prob = self._probabilities(bgr, self._scale_to(height, width, params.gate_side))
        pixel = params.detection.pixel_threshold if params.gate_pixel_threshold is None else params.gate_pixel_threshold
        gate = boxes_from_map(prob, (width, height), DetectionParams(pixel, params.gate_box_threshold))
        if not gate:
            return [], []
        if params.coarse_side and params.coarse_side != params.gate_side:
            prob = self._probabilities(bgr, self._scale_to(height, width, params.coarse_side))
        return gate, boxes_from_map(prob, (width, height), params.detection)

    def _scale_to(self, height: int, width: int, side: int) -> float:
        """The scale that brings the shorter side to `side` (up or down), within det_max_side."""
        return min(side / min(height, width), self._params.det_max_side / max(height, width))

    def _reads_any(self, bgr: np.ndarray, boxes: list[tuple[np.ndarray, float]]) -> bool:
        """Whether any gate box reads as text with at least min_confidence."""
        readings = read_upright(self._cls, self._reader, [crop_line(bgr, box) for box, _ in boxes])
        return any(r.text.strip() and r.confidence >= self._params.min_confidence for r in readings)

    def _attempt(self, bgr: np.ndarray, coarse: list[tuple[np.ndarray, float]]) -> _Attempt:
        """Detect at full resolution (plus the gate's `coarse` boxes), orient and read every box."""
        height, width = bgr.shape[:2]
        prob = self._probabilities(bgr, self._upscale(height, width, self._params.det_min_side))
        found = boxes_from_map(prob, (width, height), self._params.detection)
        others = list(coarse)
        if self._params.tight_unclip:
            tight = replace(self._params.detection, unclip_ratio=self._params.tight_unclip)
            others += boxes_from_map(prob, (width, height), tight)
        for angle in self._params.tilt_angles:
            others += self._tilted(bgr, angle)
        if self._params.enhance_side:
            others += self._enhanced(bgr)
        if self._params.det2_side and self._det2 is not None:
            others += self._boxes_at(bgr, self._params.det2_side, self._det2)
        alternatives = []
        for box in others:
            (alternatives if _overlaps(box[0], found) else found).append(box)
        if self._params.merge_pieces:
            found += [box for box in merge_pieces(found) if not _overlaps(box[0], found)]
        if self._params.read_alternatives:
            if self._params.extend_heights:
                alternatives += [(grow_box(box, self._params.extend_heights, 0.0, (width, height)), score)
                                 for box, score in found]
            found += alternatives
        found = reading_order(found)
        if not found:
            return _Attempt([], 0.0)
        crops = [crop_line(bgr, box) for box, _ in found]
        readings = read_upright(self._cls, self._reader, crops)
        quality = float(np.mean([r.confidence if r.text.strip() else 0.0 for r in readings]))
        lines = self._lines(found, readings)
        return _Attempt(_best_per_region(lines) if self._params.read_alternatives else lines, quality)

    def _lines(self, boxes: list[tuple[np.ndarray, float]], readings: list) -> list[Line]:
        """The readings that read as text (min_confidence), as Lines with their boxes."""
        return [
            Line(r.text.strip(), r.confidence, tuple((float(x), float(y)) for x, y in box))
            for (box, _), r in zip(boxes, readings)
            if r.text.strip() and r.confidence >= self._params.min_confidence
        ]

    def _tilted(self, bgr: np.ndarray, angle: float) -> list[tuple[np.ndarray, float]]:
        """Boxes detected on `bgr` turned by `angle` degrees (canvas grown to hold it all),
        in `bgr`'s coordinates."""
        height, width = bgr.shape[:2]
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
        cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
        new_w, new_h = int(height * sin + width * cos), int(height * cos + width * sin)
        matrix[:, 2] += ((new_w - width) / 2, (new_h - height) / 2)
        turned = cv2.warpAffine(bgr, matrix, (new_w, new_h), borderMode=cv2.BORDER_REPLICATE)
        scale = min(self._params.tilt_side / min(new_h, new_w), self._params.det_max_side / max(new_h, new_w))
        boxes = boxes_from_map(self._probabilities(turned, scale), (new_w, new_h), self._params.detection)
        inverse = cv2.invertAffineTransform(matrix)
        mapped = []
        for box, score in boxes:
            points = box @ inverse[:, :2].T + inverse[:, 2]
            points[:, 0] = np.clip(points[:, 0], 0, width - 1)
            points[:, 1] = np.clip(points[:, 1], 0, height - 1)
            mapped.append((order_clockwise(points.astype(np.float32)), score))
        return mapped

    def _enhanced(self, bgr: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Boxes detected on a contrast-equalised copy of `bgr` (CLAHE on the L of Lab)."""
        lab = cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)
        clahe = cv2.createCLAHE(clipLimit=self._params.enhance_clip, tileGridSize=(8, 8))
        lab[:, :, 0] = clahe.apply(lab[:, :, 0])
        return self._boxes_at(cv2.cvtColor(lab, cv2.COLOR_LAB2BGR), self._params.enhance_side, self._det)

    def _boxes_at(self, bgr: np.ndarray, side: int, session) -> list[tuple[np.ndarray, float]]:
        """Boxes `session` detects on `bgr` with its shorter side scaled up to `side`."""
        height, width = bgr.shape[:2]
        prob = self._probabilities(bgr, self._upscale(height, width, side), session)
        return boxes_from_map(prob, (width, height), self._params.detection)

    def _upscale(self, height: int, width: int, side: int) -> float:
        """The scale that brings the shorter side up to `side` (never down), within det_max_side."""
        return min(max(1.0, side / min(height, width)), self._params.det_max_side / max(height, width))

    def _probabilities(self, bgr: np.ndarray, scale: float, session=None) -> np.ndarray:
        """A detector's text probability map of `bgr` at `scale` (default: the main detector)."""
        session = self._det if session is None else session
        (prob,) = session.run(None, {session.get_inputs()[0].name: det_input(bgr, scale)})
        return prob[0, 0]


def _best_per_region(lines: list[Line]) -> list[Line]:
    """The lines, less those whose box is about the same region (IoU > 0.5) as a better
    line's; in their order. Better: a larger sum of character probabilities (mean
    confidence x length). The mean alone prefers a truncated reading ("uttrogki" 0.99
    over "uttrogkiqg" 0.92): measured, 11 fewer code substrings found first of 1,425."""
    kept: list[tuple[np.ndarray, float]] = []
    keep = set()
    for index in sorted(range(len(lines)), key=lambda i: -lines[i].confidence * len(lines[i].text)):
        box = np.array(lines[index].box, np.float32)
        if not _overlaps(box, kept):
            kept.append((box, 0.0))
            keep.add(index)
    return [line for index, line in enumerate(lines) if index in keep]


def _overlaps(box: np.ndarray, found: list[tuple[np.ndarray, float]]) -> bool:
    """Whether `box` is about the same region as a found box (intersection over union > 0.5).

    A box holding a found one, or held by it, is kept: the two passes' boxes differ that
    way where one scale found only part of a line (a big word read as its last letters).
    """
    area = cv2.contourArea(box)
    for other, _ in found:
        common, _ = cv2.intersectConvexConvex(box, other)
        if common > 0.5 * (area + cv2.contourArea(other) - common):
            return True
    return False


def _pad_strip(bgr: np.ndarray) -> tuple[np.ndarray, int]:
    """A very wide, short image padded above and below (RapidOCR's vertical padding).

    The detector misses text touching the top and bottom edges of a strip such as a
    1167x54 single line; padding to at most 8:1 (and at least 60 px high) fixes it.
    Returns the image and the padding added on top.
    """
    height, width = bgr.shape[:2]
    if height > 30 and width / height <= 8:
        return bgr, 0
    pad = max(int(width / 8), 30) - height // 2
    if pad <= 0:
        return bgr, 0
    padded = cv2.copyMakeBorder(bgr, pad, pad, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    return padded, pad


def _shift(line: Line, dy: float, shape: tuple[int, ...]) -> Line:
    """`line` moved by `dy` pixels vertically, clamped to an image of `shape`."""
    height, width = shape[:2]
    box = tuple((min(max(x, 0.0), width - 1.0), min(max(y + dy, 0.0), height - 1.0)) for x, y in line.box)
    return Line(line.text, line.confidence, box)


def _unrotate(line: Line, code: int, shape: tuple[int, ...]) -> Line:
    """`line` read in the image rotated by cv2 `code`, with its box in the unrotated image of `shape`."""
    height, width = shape[:2]
    if code == cv2.ROTATE_90_CLOCKWISE:
        # Original (x, y) -> rotated (height - 1 - y, x).
        points = [(y, height - 1 - x) for x, y in line.box]
    elif code == cv2.ROTATE_90_COUNTERCLOCKWISE:
        # Original (x, y) -> rotated (y, width - 1 - x).
        points = [(width - 1 - y, x) for x, y in line.box]
    else:
        points = [(width - 1 - x, height - 1 - y) for x, y in line.box]
    return Line(line.text, line.confidence, tuple((float(x), float(y)) for x, y in points))

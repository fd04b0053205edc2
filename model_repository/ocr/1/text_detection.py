"""PP-OCR text detection: resizing for the DB network and turning its probability map into boxes.

Pure NumPy + OpenCV (no Triton, no rapidocr imports) so tests can run it in-process. The
post-processing follows PaddleOCR's DBPostProcess ("fast" box score, dilation on), except
the unclip step: PaddleOCR offsets the contour's polygon with pyclipper and takes the
minimum-area rectangle of the result; here the minimum-area rectangle is grown by the
same distance on every side, which is the same rectangle whenever the contour is convex
and saves two dependencies (pyclipper, shapely).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The DB network downsamples by 32: inputs must be multiples of it.
STRIDE = 32


@dataclass(frozen=True)
class DetectionParams:
    """DB thresholds (PaddleOCR's defaults as used by RapidOCR)."""

    pixel_threshold: float = 0.3
    box_threshold: float = 0.5
    unclip_ratio: float = 1.6
    min_side: float = 3.0
    max_candidates: int = 1000


def det_input(bgr: np.ndarray, scale: float) -> np.ndarray:
    """`bgr` resized by `scale` (each side rounded to a multiple of 32), as float32 [1, 3, H, W]."""
    height, width = bgr.shape[:2]
    new_h = max(STRIDE, int(round(height * scale / STRIDE)) * STRIDE)
    new_w = max(STRIDE, int(round(width * scale / STRIDE)) * STRIDE)
    resized = cv2.resize(bgr, (new_w, new_h))
    pixels = resized.astype(np.float32) * (2.0 / 255.0) - 1.0  # mean = std = 0.5
    return pixels.transpose(2, 0, 1)[None]


def boxes_from_map(
    prob: np.ndarray, image_size: tuple[int, int], params: DetectionParams
) -> list[tuple[np.ndarray, float]]:
    """(box, score) per text region of probability map `prob` [H, W].

    Each box is float32 [4, 2], clockwise from top-left, in the coordinates of an image
    of `image_size` (width, height).
    """
    map_h, map_w = prob.shape
    mask = cv2.dilate((prob > params.pixel_threshold).astype(np.uint8), np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    scale = np.array([image_size[0] / map_w, image_size[1] / map_h], np.float32)
    found: list[tuple[np.ndarray, float]] = []
    for contour in contours[: params.max_candidates]:
        rect = cv2.minAreaRect(contour)
        if min(rect[1]) < params.min_side:
            continue
        score = _box_score(prob, cv2.boxPoints(rect))
        if score < params.box_threshold:
            continue
        (cx, cy), (w, h), angle = rect
        distance = w * h * params.unclip_ratio / (2.0 * (w + h))
        grown = ((cx, cy), (w + 2 * distance, h + 2 * distance), angle)
        if min(grown[1]) < params.min_side + 2:
            continue
        box = order_clockwise(cv2.boxPoints(grown)) * scale
        box[:, 0] = np.clip(box[:, 0], 0, image_size[0] - 1)
        box[:, 1] = np.clip(box[:, 1], 0, image_size[1] - 1)
        if min(np.linalg.norm(box[0] - box[1]), np.linalg.norm(box[0] - box[3])) <= 3:
            continue
        found.append((box.astype(np.float32), score))
    return found


def order_clockwise(points: np.ndarray) -> np.ndarray:
    """The four points as top-left, top-right, bottom-right, bottom-left."""
    by_x = points[np.argsort(points[:, 0], kind="stable")]
    left = by_x[:2][np.argsort(by_x[:2, 1], kind="stable")]
    right = by_x[2:][np.argsort(by_x[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], np.float32)


def reading_order(boxes: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Top to bottom, then left to right within a line (tops within 10 px are one line)."""
    ordered = sorted(boxes, key=lambda item: float(item[0][0, 1]))
    lines: list[list[tuple[np.ndarray, float]]] = []
    for item in ordered:
        if lines and float(item[0][0, 1]) - float(lines[-1][-1][0][0, 1]) < 10:
            lines[-1].append(item)
        else:
            lines.append([item])
    return [item for line in lines for item in sorted(line, key=lambda it: float(it[0][0, 0]))]


def _box_score(prob: np.ndarray, points: np.ndarray) -> float:
    """Mean probability inside the quadrilateral (PaddleOCR's "fast" score)."""
    height, width = prob.shape
    xmin = int(np.clip(np.floor(points[:, 0].min()), 0, width - 1))
    xmax = int(np.clip(np.ceil(points[:, 0].max()), 0, width - 1))
    ymin = int(np.clip(np.floor(points[:, 1].min()), 0, height - 1))
    ymax = int(np.clip(np.ceil(points[:, 1].max()), 0, height - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), np.uint8)
    local = (points - np.array([xmin, ymin], np.float32)).astype(np.int32)
    cv2.fillPoly(mask, local[None], 1)
    return float(cv2.mean(prob[ymin : ymax + 1, xmin : xmax + 1], mask)[0])


# Pieces of one line merged by merge_pieces: heights within this ratio, long axes within
# this angle of the line joining them, and a gap along it of at most this many heights.
PIECE_HEIGHT_RATIO = 1.6
PIECE_MAX_ANGLE_DEG = 20.0
PIECE_MAX_GAP = 3.0


def merge_pieces(boxes: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """One box per run of aligned neighbouring boxes (2 or more), for reading as one line.

    The DB detector breaks big or widely spaced text into pieces ("SKU-8" and "CIM" for
    "SKU-87605-TM", "045-" and "29461" for "045-1292 9461"): each piece alone misses the
    query. The merged boxes are read beside the pieces (docs/quality.md, OCR).
    """
    if len(boxes) < 2:
        return []
    rects = [cv2.minAreaRect(box.astype(np.float32)) for box, _ in boxes]
    parent = list(range(len(boxes)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            if _aligned(rects[i], rects[j], boxes[i][0], boxes[j][0]):
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(root(i), []).append(i)
    merged = []
    for members in groups.values():
        if len(members) < 2:
            continue
        points = np.concatenate([boxes[i][0] for i in members]).astype(np.float32)
        box = order_clockwise(cv2.boxPoints(cv2.minAreaRect(points)))
        merged.append((box, float(np.mean([boxes[i][1] for i in members]))))
    return merged


def _aligned(rect_a, rect_b, box_a: np.ndarray, box_b: np.ndarray) -> bool:
    """Whether two boxes look like neighbouring pieces of one line of text."""
    height_a, height_b = min(rect_a[1]), min(rect_b[1])
    if min(height_a, height_b) <= 0 or max(height_a, height_b) / min(height_a, height_b) > PIECE_HEIGHT_RATIO:
        return False
    offset = np.subtract(rect_b[0], rect_a[0])
    distance = float(np.hypot(*offset))
    if distance == 0:
        return False
    direction = offset / distance
    for rect, box in ((rect_a, box_a), (rect_b, box_b)):
        if max(rect[1]) >= 1.5 * min(rect[1]):  # a clear long axis must point along the line
            long_axis = _long_axis(box)
            cosine = abs(float(np.dot(long_axis, direction)))
            if cosine < np.cos(np.radians(PIECE_MAX_ANGLE_DEG)):
                return False
    half_a = float(np.abs((box_a - rect_a[0]) @ direction).max())
    half_b = float(np.abs((box_b - rect_b[0]) @ direction).max())
    gap = distance - half_a - half_b
    return gap <= PIECE_MAX_GAP * (height_a + height_b) / 2


def _long_axis(box: np.ndarray) -> np.ndarray:
    """The unit vector along a box's longer pair of sides."""
    first, second = box[1] - box[0], box[3] - box[0]
    axis = first if np.hypot(*first) >= np.hypot(*second) else second
    return axis / max(float(np.hypot(*axis)), 1e-6)


def grow_box(box: np.ndarray, along: float, across: float, image_size: tuple[int, int]) -> np.ndarray:
    """`box` grown by `along` of its height at each end of its long axis and by `across` of
    its height above and below, clipped to an image of `image_size` (width, height)."""
    rect = cv2.minAreaRect(box.astype(np.float32))
    (cx, cy), (w, h), angle = rect
    height = min(w, h)
    if w >= h:
        size = (w + 2 * along * height, h + 2 * across * height)
    else:
        size = (w + 2 * across * height, h + 2 * along * height)
    grown = order_clockwise(cv2.boxPoints(((cx, cy), size, angle)))
    grown[:, 0] = np.clip(grown[:, 0], 0, image_size[0] - 1)
    grown[:, 1] = np.clip(grown[:, 1], 0, image_size[1] - 1)
    return grown.astype(np.float32)

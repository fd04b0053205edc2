"""Typed OCR lines, as the ocr Triton model returns them and the store keeps them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Point = tuple[float, float]


@dataclass(frozen=True)
class OcrLine:
    """One line of text read in an image.

    box: four (x, y) points in the pixels of the upright image (EXIF orientation applied),
    clockwise from the text's own top-left corner (for upside-down text that is the
    image's bottom-right). confidence: the recogniser's mean character probability, 0..1.
    """

    text: str
    confidence: float
    box: tuple[Point, Point, Point, Point]

    def to_payload(self) -> dict[str, Any]:
        """As stored in the point's payload (plain JSON types)."""
        return {"text": self.text, "confidence": self.confidence, "box": [list(p) for p in self.box]}

    @classmethod
    def from_payload(cls, raw: dict[str, Any]) -> "OcrLine":
        """Inverse of to_payload; also reads the model's JSON lines (same shape)."""
        box = tuple((float(x), float(y)) for x, y in raw["box"])
        if len(box) != 4:
            raise ValueError(f"an OCR box has 4 points, got {len(box)}")
        return cls(text=str(raw["text"]), confidence=float(raw["confidence"]), box=box)  # type: ignore[arg-type]


def lines_from_model_output(data: bytes) -> tuple[OcrLine, ...]:
    """The lines of one image from the ocr model's JSON output (model_repository/ocr/1/model.py)."""
    body = json.loads(data.decode("utf-8"))
    return tuple(OcrLine.from_payload(raw) for raw in body["lines"])

"""Draw docs/score_bands.png: score distributions before (score = cosine) and after the
calibration, per kind of hit, on the held-out Corel classes, with the bands shaded.

    PYTHONPATH=server:clients/python python -m bench.score_plot

Reads bench/results/calibration_scores.json (written by `python -m bench.calibrate`).
Drawn with Pillow (matplotlib is not a dependency of this project).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from bench.calibrate import SCORES_OUT

OUT = Path(__file__).resolve().parents[1] / "docs" / "score_bands.png"
BINS = 50
WIDTH, PANEL_H, MARGIN_L, MARGIN_R, TOP, GAP = 900, 260, 60, 20, 40, 70
SERIES = (  # key in the json, legend, colour
    ("copies", "edited copies vs their original, plain search (original not in the top 10: drawn at 0)", (200, 30, 30)),
    ("copies_mode", "edited copies, copies mode", (230, 120, 0)),
    ("same", "top-10 hits, same class", (30, 110, 200)),
    ("other", "top-10 hits, other class", (90, 90, 90)),
)
BANDS = ((0.0, 0.5, (245, 245, 245), "noise"), (0.5, 0.7, (235, 240, 250), "weak"),
         (0.7, 0.9, (220, 235, 250), "clearly related"), (0.9, 1.0, (250, 225, 225), "near-duplicate"))


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def _panel(draw: ImageDraw.ImageDraw, top: int, title: str, data: dict, font, small) -> None:
    x0, x1, y0, y1 = MARGIN_L, WIDTH - MARGIN_R, top, top + PANEL_H

    def x(v: float) -> float:
        return x0 + (x1 - x0) * v

    for lo, hi, colour, name in BANDS:
        draw.rectangle((x(lo), y0, x(hi), y1), fill=colour)
        draw.text((x(lo) + 4, y0 + 4), name, fill=(120, 120, 120), font=small)
    draw.rectangle((x0, y0, x1, y1), outline=(0, 0, 0))
    draw.text((x0, y0 - 24), title, fill=(0, 0, 0), font=font)
    for tick in np.arange(0, 1.01, 0.1):
        draw.line((x(tick), y1, x(tick), y1 + 5), fill=(0, 0, 0))
        draw.text((x(tick) - 10, y1 + 7), f"{tick:.1f}", fill=(0, 0, 0), font=small)
    edges = np.linspace(0, 1, BINS + 1)
    shares = {key: np.histogram(np.clip(data[key], 0, 1), edges)[0] / max(len(data[key]), 1)
              for key, _, _ in SERIES if key in data}
    peak = max(s.max() for s in shares.values())
    for key, _, colour in SERIES:
        if key not in shares:
            continue
        points = []
        for k, share in enumerate(shares[key]):
            y = y1 - (y1 - y0 - 20) * share / peak
            points += [(x(edges[k]), y), (x(edges[k + 1]), y)]
        draw.line(points, fill=colour, width=3)


def main() -> None:
    scores = json.loads(SCORES_OUT.read_text())
    height = TOP + 2 * (PANEL_H + GAP) + 30 * len(SERIES)
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(16), _font(12)
    _panel(draw, TOP, "before: score = cosine (held-out Corel classes 1,3,5,7,9)", scores["before"], font, small)
    _panel(draw, TOP + PANEL_H + GAP, "after: calibrated offline/v3 (same queries; fitted on classes 0,2,4,6,8)",
           scores["after"], font, small)
    legend_y = TOP + 2 * (PANEL_H + GAP) - 20
    for k, (_, label, colour) in enumerate(SERIES):
        y = legend_y + 26 * k
        draw.line((MARGIN_L, y + 8, MARGIN_L + 30, y + 8), fill=colour, width=3)
        draw.text((MARGIN_L + 40, y), label + " (share of its kind per bin)", fill=(0, 0, 0), font=small)
    image.save(OUT, optimize=True)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

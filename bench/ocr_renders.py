"""The generated OCR set: Corel-1K photos with words rendered on them, plus untouched ones.

Shared by the quality tests (tests/test_ocr_quality.py) and the benchmark (bench/ocr.py).
Deterministic: the same seed gives the same images, byte for byte. Fonts come from
Debian packages (fonts-dejavu-core, fonts-liberation, fonts-freefont-ttf); the set uses
whichever of FONT_FILES are installed and needs at least two.

Each rendered photo gets one string: a word (random letters, 5-10, so no photo shows it
by chance), a number plate ("RE16 TGK"), a phone number ("027-8885 2022") or a SKU
("SKU-48213-XK"), drawn with: a font of several families, a height of 14-72 px (shrunk
to fit the photo), a colour 50-80 (one in three: low contrast) or 80-160 grey levels away
from the mean of the pixels under it, a rotation of up to 30 degrees or by 90/180, sometimes a perspective warp,
and a JPEG quality of 30 for one photo in three.
"""

from __future__ import annotations

import io
import random
import string
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype"),)
FONT_FILES = (
    "dejavu/DejaVuSans.ttf", "dejavu/DejaVuSerif.ttf", "dejavu/DejaVuSansMono.ttf", "dejavu/DejaVuSans-Bold.ttf",
    "liberation/LiberationSans-Regular.ttf", "liberation/LiberationSerif-Regular.ttf",
    "liberation/LiberationMono-Regular.ttf", "liberation/LiberationSansNarrow-Bold.ttf",
    "freefont/FreeSans.ttf", "freefont/FreeSerif.ttf", "freefont/FreeMonoBold.ttf",
)
APT_PACKAGES = "fonts-dejavu-core fonts-liberation fonts-freefont-ttf"
KINDS = ("word", "plate", "phone", "sku")


@dataclass(frozen=True)
class Render:
    """One photo of the set: its Corel index, the string drawn (None: untouched) and how."""

    index: int
    text: str | None
    kind: str | None
    description: str
    image: bytes

    @property
    def is_code(self) -> bool:
        return self.kind in ("plate", "phone", "sku")


def available_fonts() -> list[Path]:
    """The installed fonts of FONT_FILES."""
    return [d / f for f in FONT_FILES for d in FONT_DIRS if (d / f).is_file()]


def random_text(rng: random.Random, kind: str) -> str:
    """A string of `kind` that no Corel photo shows."""
    upper, digits = string.ascii_uppercase, string.digits
    if kind == "plate":
        return (f"{''.join(rng.choices(upper, k=2))}{''.join(rng.choices(digits, k=2))} "
                f"{''.join(rng.choices(upper, k=3))}")
    if kind == "phone":
        return f"0{''.join(rng.choices(digits, k=2))}-{''.join(rng.choices(digits, k=4))} {''.join(rng.choices(digits, k=4))}"
    if kind == "sku":
        return f"SKU-{''.join(rng.choices(digits, k=5))}-{''.join(rng.choices(upper, k=2))}"
    word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10)))
    return word.capitalize() if rng.random() < 0.5 else word.upper() if rng.random() < 0.3 else word


def _text_layer(text: str, font_path: Path, size: int, fill: tuple[int, int, int]) -> Image.Image:
    """The text alone on a transparent canvas with a margin, for rotating and warping."""
    font = ImageFont.truetype(str(font_path), size)
    left, top, right, bottom = font.getbbox(text)
    margin = size // 2
    layer = Image.new("RGBA", (right - left + 2 * margin, bottom - top + 2 * margin), (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((margin - left, margin - top), text, font=font, fill=(*fill, 255))
    return layer


def _perspective(layer: Image.Image, rng: random.Random) -> Image.Image:
    """`layer` seen at an angle: each corner moved inwards by up to 15% of the size."""
    width, height = layer.size
    source = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    jitter = np.float32([[rng.uniform(0, 0.15) * width, rng.uniform(0, 0.15) * height] for _ in range(4)])
    target = source + jitter * np.float32([[1, 1], [-1, 1], [-1, -1], [1, -1]])
    matrix = cv2.getPerspectiveTransform(source, target)
    warped = cv2.warpPerspective(np.asarray(layer), matrix, (width, height), flags=cv2.INTER_LINEAR)
    return Image.fromarray(warped, "RGBA")


def _contrasting(region: Image.Image, rng: random.Random) -> tuple[int, int, int]:
    """A colour lighter or darker than the mean of `region` (the pixels under the text).

    One string in three is low-contrast (50-80 grey levels from its background), the
    others 80-160.
    """
    mean = np.asarray(region, np.float32).reshape(-1, 3).mean(axis=0)
    low = rng.random() < 1 / 3
    delta = rng.uniform(50, 80) if low else rng.uniform(80, 160)
    delta *= 1 if mean.mean() < 128 else -1
    tint = np.array([rng.uniform(-20, 20) for _ in range(3)])
    return tuple(int(v) for v in np.clip(mean + delta + tint, 0, 255))  # type: ignore[return-value]


def render_on(photo: Image.Image, text: str, rng: random.Random, fonts: list[Path]) -> tuple[Image.Image, str]:
    """`photo` with `text` drawn on it, and a description of how."""
    font = rng.choice(fonts)
    size = rng.randint(14, 72)
    layer = _text_layer(text, font, size, (0, 0, 0))
    warp = rng.random() < 0.25
    if warp:
        layer = _perspective(layer, rng)
    turn = rng.random()
    angle = 90 if turn < 0.1 else 180 if turn < 0.2 else rng.uniform(-30, 30)
    layer = layer.rotate(angle, expand=True, resample=Image.Resampling.BICUBIC)
    shrink = min(1.0, 0.95 * photo.width / layer.width, 0.95 * photo.height / layer.height)
    if shrink < 1.0:
        layer = layer.resize((max(1, int(layer.width * shrink)), max(1, int(layer.height * shrink))),
                             Image.Resampling.LANCZOS)
    x = rng.randint(0, photo.width - layer.width)
    y = rng.randint(0, photo.height - layer.height)
    colour = _contrasting(photo.crop((x, y, x + layer.width, y + layer.height)), rng)
    out = photo.copy()
    out.paste(Image.new("RGB", layer.size, colour), (x, y), layer)
    return out, f"{font.stem} {size}px x{shrink:.2f} angle {angle:.0f}{' perspective' if warp else ''}"


def build_set(corel_dir: Path, rendered: int = 300, untouched: int = 700, seed: int = 12) -> list[Render]:
    """`rendered` photos with a string each and `untouched` plain ones, from Corel-1K."""
    fonts = available_fonts()
    if len(fonts) < 2:
        raise RuntimeError(f"need at least two fonts of {FONT_FILES}: apt-get install {APT_PACKAGES}")
    rng = random.Random(seed)
    indices = list(range(1000))
    rng.shuffle(indices)
    renders, seen = [], set()
    for position, index in enumerate(indices[: rendered + untouched]):
        data = (corel_dir / f"{index}.jpg").read_bytes()
        if position >= rendered:
            renders.append(Render(index, None, None, "untouched", data))
            continue
        kind = KINDS[position % len(KINDS)]
        text = random_text(rng, kind)
        while text.lower() in seen:
            text = random_text(rng, kind)
        seen.add(text.lower())
        with Image.open(io.BytesIO(data)) as photo:
            image, how = render_on(photo.convert("RGB"), text, rng, fonts)
        quality = 30 if rng.random() < 1 / 3 else 85
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        renders.append(Render(index, text, kind, f"{how} q{quality}", out.getvalue()))
    return renders

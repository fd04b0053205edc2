"""Near-duplicate detection on Corel-1K: the transformed copies the acceptance test uses,
and the in-process measurement behind the thresholds in imagesearch/dedup/rule.py.

`python -m bench.duplicates` embeds the 1,000 originals and 300 edited copies with the
served ONNX model (in-process, same preprocessing), hashes them, and prints, for a grid
of rules, the recall of copies against their originals and the share of originals
falsely flagged as near-duplicates of another original.
"""

from __future__ import annotations

import io
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageEnhance

from bench.common import COREL_DIR, COREL_SIZE, REPO_ROOT

N_COPIES = 300
SEED = 3


def _crop(image: Image.Image, rng: random.Random) -> Image.Image:
    """Keep 70-90 % of each side, at a random offset."""
    w, h = image.size
    keep = rng.uniform(0.70, 0.90)
    cw, ch = int(w * keep), int(h * keep)
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    return image.crop((x, y, x + cw, y + ch))


def _half(image: Image.Image, rng: random.Random) -> Image.Image:
    return image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)


def _brightness(image: Image.Image, rng: random.Random) -> Image.Image:
    """+-30 % brightness."""
    return ImageEnhance.Brightness(image).enhance(rng.choice([0.7, 1.3]))


def _flip(image: Image.Image, rng: random.Random) -> Image.Image:
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


EDITS: dict[str, Callable[[Image.Image, random.Random], Image.Image]] = {
    "crop": _crop,
    "half": _half,
    "brightness": _brightness,
    "flip": _flip,
}
# Ten recipes, 30 copies each; "q30" re-encodes as JPEG quality 30 (others save at 90).
RECIPES: list[tuple[tuple[str, ...], int]] = [
    (("crop",), 90),
    (("half",), 90),
    (("brightness",), 90),
    (("flip",), 90),
    ((), 30),
    (("crop", "flip"), 90),
    (("half",), 30),
    (("brightness", "crop"), 30),
    (("flip", "brightness", "half"), 90),
    (("crop", "half", "brightness", "flip"), 30),
]


@dataclass(frozen=True)
class Copy:
    """An edited copy of Corel image `original`."""

    original: int
    recipe: str
    data: bytes


def corel_bytes(index: int) -> bytes:
    return (COREL_DIR / f"{index}.jpg").read_bytes()


def transformed_copies(n: int = N_COPIES, seed: int = SEED) -> list[Copy]:
    """`n` edited copies of originals spread evenly over the 10 classes, recipes cycling."""
    rng = random.Random(seed)
    copies = []
    for k in range(n):
        original = (k * COREL_SIZE) // n
        edits, quality = RECIPES[k % len(RECIPES)]
        with Image.open(io.BytesIO(corel_bytes(original))) as source:
            image = source.convert("RGB")
        for edit in edits:
            image = EDITS[edit](image, rng)
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality)
        copies.append(Copy(original, "+".join(edits) + f"@q{quality}", out.getvalue()))
    return copies


def _embedder() -> Callable[[bytes], np.ndarray]:
    """The served model, in-process: same ONNX file, same preprocessing module."""
    import onnxruntime as ort

    model_dir = REPO_ROOT / "model_repository" / "image_embedding" / "1"
    sys.path.insert(0, str(model_dir))
    from preprocessing import decode_rgb, to_pixels  # type: ignore[import-not-found]

    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])

    def embed(data: bytes) -> np.ndarray:
        pixels = to_pixels(decode_rgb(data, 64_000_000))[None]
        return session.run(["embedding"], {"pixels": pixels})[0][0]

    return embed


def main() -> None:
    from imagesearch.dedup.fingerprint import fingerprint, hamming

    embed = _embedder()
    originals = [corel_bytes(i) for i in range(COREL_SIZE)]
    copies = transformed_copies()
    o_vec = np.stack([embed(b) for b in originals])
    c_vec = np.stack([embed(c.data) for c in copies])
    o_hash = [fingerprint(b).phash for b in originals]
    c_hash = [fingerprint(c.data).phash for c in copies]

    # Copies: similarity to and hash distance from their own original, and the best other.
    own_sim = np.array([o_vec[c.original] @ c_vec[k] for k, c in enumerate(copies)])
    own_ham = np.array([hamming(o_hash[c.original], c_hash[k]) for k, c in enumerate(copies)])
    sims = o_vec @ o_vec.T
    np.fill_diagonal(sims, -1)
    # Originals: for each, its most similar other original, and that pair's hash distance.
    best = sims.argmax(axis=1)
    best_sim = sims[np.arange(COREL_SIZE), best]
    best_ham = np.array([hamming(o_hash[i], o_hash[j]) for i, j in enumerate(best)])
    # Any other original within a hash distance (hash alone), per original.
    ham_all = np.array([[hamming(a, b) for b in o_hash] for a in o_hash])
    np.fill_diagonal(ham_all, 64)

    print("copies: own similarity min / 1% / 5% / median:",
          *(f"{np.quantile(own_sim, q):.3f}" for q in (0, 0.01, 0.05, 0.5)))
    print("copies: own hamming median / 95% / max:", *(int(np.quantile(own_ham, q)) for q in (0.5, 0.95, 1)))
    for recipe in sorted({c.recipe for c in copies}):
        mask = np.array([c.recipe == recipe for c in copies])
        print(f"  {recipe:34s} sim min {own_sim[mask].min():.3f}  ham max {own_ham[mask].max():2d}")
    print("originals: best other similarity 99% / 99.5% / max:",
          *(f"{np.quantile(best_sim, q):.3f}" for q in (0.99, 0.995, 1)))
    top = np.argsort(-best_sim)[:15]
    print("  closest original pairs:", [(int(i), int(best[i]), round(float(best_sim[i]), 3), int(best_ham[i])) for i in top])

    print("\nrule: sim >= hi, or (sim >= lo and hamming <= h)   recall  false-flag rate")
    for hi in (0.80, 0.85, 0.88, 0.90, 0.92, 0.95):
        for lo, h in ((hi, 0), (0.7, 8), (0.7, 12), (0.75, 10), (0.8, 12)):
            if lo > hi:
                continue
            copy_ok = (own_sim >= hi) | ((own_sim >= lo) & (own_ham <= h))
            flagged = ((sims >= hi) | ((sims >= lo) & (ham_all <= h))).any(axis=1)
            print(f"  hi {hi:.2f} lo {lo:.2f} h {h:2d}:  {copy_ok.mean():.4f}  {flagged.mean():.4f}")


if __name__ == "__main__":
    main()

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
    import time

    from imagesearch.dedup.fingerprint import fingerprint, hamming
    from imagesearch.dedup.rule import NearDuplicateRule

    rule = NearDuplicateRule()
    embed = _embedder()
    originals = [corel_bytes(i) for i in range(COREL_SIZE)]
    copies = transformed_copies()
    o_vec = np.stack([embed(b) for b in originals])
    c_vec = np.stack([embed(c.data) for c in copies])
    started = time.perf_counter()
    o_fp = [fingerprint(b) for b in originals]
    c_fp = [fingerprint(c.data) for c in copies]
    print(f"fingerprint: {(time.perf_counter() - started) / 1300 * 1000:.2f} ms per image")

    own_sim = np.array([o_vec[c.original] @ c_vec[k] for k, c in enumerate(copies)])
    own_ham = np.array([hamming(o_fp[c.original].phash, c_fp[k].phash) for k, c in enumerate(copies)])
    sims = o_vec @ o_vec.T
    np.fill_diagonal(sims, -1)
    best_sim = sims.max(axis=1)
    print("copies: similarity to own original min / 1% / 5% / median:",
          *(f"{np.quantile(own_sim, q):.3f}" for q in (0, 0.01, 0.05, 0.5)))
    print("copies: pHash distance to own original median / 95% / max:",
          *(int(np.quantile(own_ham, q)) for q in (0.5, 0.95, 1)))
    print("originals: similarity to the closest other original 99% / max:",
          *(f"{np.quantile(best_sim, q):.3f}" for q in (0.99, 1)))

    # Embedding + pHash only, for comparison: copy when sim >= hi or (sim >= 0.7 and ham <= 8).
    ham_all = np.array([[hamming(a.phash, b.phash) for b in o_fp] for a in o_fp])
    np.fill_diagonal(ham_all, 64)
    print("\nembedding + pHash alone (sim >= hi, or sim >= 0.7 and distance <= 8): recall / false-flag rate")
    for hi in (0.80, 0.85, 0.90, 0.95):
        recall = ((own_sim >= hi) | ((own_sim >= 0.7) & (own_ham <= 8))).mean()
        flagged = ((sims >= hi) | ((sims >= 0.7) & (ham_all <= 8))).any(axis=1).mean()
        print(f"  hi {hi:.2f}: {recall:.4f} / {flagged:.4f}")

    # The served rule: top-`neighbours` candidates above min_similarity, each scored.
    started = time.perf_counter()
    pairs = 0
    copy_scores = []
    for k, c in enumerate(copies):
        sim = o_vec @ c_vec[k]
        candidates = [j for j in np.argsort(-sim)[: rule.neighbours] if sim[j] >= rule.min_similarity]
        pairs += len(candidates)
        copy_scores.append(max((rule.score(c_fp[k], o_fp[j], sim[j]) for j in candidates if j == c.original), default=0.0))
    per_pair_ms = (time.perf_counter() - started) / max(pairs, 1) * 1000
    original_scores = []
    for i in range(COREL_SIZE):
        candidates = [j for j in np.argsort(-sims[i])[: rule.neighbours] if sims[i, j] >= rule.min_similarity]
        original_scores.append(max((rule.score(o_fp[i], o_fp[j], sims[i, j]) for j in candidates), default=0.0))
    copy_scores, original_scores = np.array(copy_scores), np.array(original_scores)
    print(f"\nserved rule ({rule}); {per_pair_ms:.1f} ms per candidate pair")
    print("  copy score of own original 0% / 1% / 2%:", *(f"{np.quantile(copy_scores, q):.3f}" for q in (0, 0.01, 0.02)))
    print("  best copy score among other originals 98% / 99% / 99.5% / max:",
          *(f"{np.quantile(original_scores, q):.3f}" for q in (0.98, 0.99, 0.995, 1)))
    for threshold in (0.85, 0.88, 0.90, 0.92, 0.94):
        print(f"  threshold {threshold:.2f}: recall {np.mean(copy_scores >= threshold):.4f}, "
              f"false-flag rate {np.mean(original_scores >= threshold):.4f}")
    for recipe in sorted({c.recipe for c in copies}):
        mask = np.array([c.recipe == recipe for c in copies])
        print(f"    {recipe:34s} recall {np.mean(copy_scores[mask] >= rule.min_copy_score):.3f}")


if __name__ == "__main__":
    main()

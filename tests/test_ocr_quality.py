"""OCR search quality through the real `ocr` Triton model (docs/quality.md, "OCR").

Every image is read once per test session (the `ocr_reads` fixture) with two requests in
flight; the searches then rank the images by the same match and score as the store's
text search (imagesearch.ocr.search), in-process. The full run reads 1,306 images (the
1,000 Corel photos, the six OCR samples, 300 rendered photos): set OCR_QUALITY_SCALE to a
fraction (e.g. 0.1) while developing on a shared machine; the asserted rates are the same.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import string
from dataclasses import dataclass

import pytest

from bench.ocr_renders import APT_PACKAGES, Render, available_fonts, build_set
from conftest import COREL, OCR_DATASET
from imagesearch.inference.ocr import OcrReader
from imagesearch.ocr.lines import OcrLine
from imagesearch.ocr.matching import MATCH_THRESHOLD, match_lines
from imagesearch.ocr.query import parse_query

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OCR_DATASET.is_dir() or not COREL.is_dir(), reason="shared datasets are not available"),
    pytest.mark.skipif(len(available_fonts()) < 2, reason=f"fonts missing: apt-get install {APT_PACKAGES}"),
]

SCALE = float(os.environ.get("OCR_QUALITY_SCALE", "1"))
RENDERED, UNTOUCHED = max(20, int(300 * SCALE)), max(30, int(700 * SCALE))
# shared/datasets/ocr/README.md: each image and strings a good reader finds in it.
DATASET_STRINGS = {
    "en.jpg": ["MovieShots Dataset", "7858 movies", "shot type"],
    "img_exif_orientation.jpg": ["我是中国人"],
    "ch_en_num.jpg": ["正品促销", "5.8", "强力去污", "-40°C"],
    "test_letterbox_like.jpg": ["CUDA execution", "verbose"],
    "issue_170.png": ["TEST"],
    "return_word_debug.jpg": ["027-88852022", "027-88859022", "24H"],
}
# "24H" of the dim shop sign was read "24" until a line the classifier turns by 180 degrees
# was also read as it was (the classifier was 0.999 sure the long red line was upside
# down): docs/quality.md, OCR.


@dataclass(frozen=True)
class Reads:
    """Lines per image id: "corel-<i>" (originals), "ocr-<file>", "render-<i>"; and the renders."""

    lines: dict[str, tuple[OcrLine, ...]]
    renders: list[Render]


async def _read_all(reader: OcrReader, images: dict[str, bytes]) -> dict[str, tuple[OcrLine, ...]]:
    slots = asyncio.Semaphore(2)  # two in flight: one decoding/posting while Triton reads

    async def read(key: str, data: bytes) -> tuple[str, tuple[OcrLine, ...]]:
        async with slots:
            return key, await reader.read(data)

    return dict(await asyncio.gather(*(read(k, v) for k, v in images.items())))


@pytest.fixture(scope="session")
async def ocr_reads(ocr_reader: OcrReader) -> Reads:
    renders = build_set(COREL, rendered=RENDERED, untouched=UNTOUCHED)
    corel_count = 1000 if SCALE >= 1 else RENDERED + UNTOUCHED
    images = {f"corel-{r.index}": (COREL / f"{r.index}.jpg").read_bytes() for r in renders[:corel_count]}
    if SCALE >= 1:
        images = {f"corel-{i}": (COREL / f"{i}.jpg").read_bytes() for i in range(1000)}
    images.update({f"ocr-{name}": (OCR_DATASET / name).read_bytes() for name in DATASET_STRINGS})
    images.update({f"render-{r.index}": r.image for r in renders if r.text is not None})
    return Reads(await _read_all(ocr_reader, images), renders)


def ranking(query: str, corpus: dict[str, tuple[OcrLine, ...]]) -> list[tuple[float, str]]:
    """(score, id) of every matching image, best first (as search_text orders them)."""
    parsed = parse_query(query)
    scored = [(m.score, key) for key, lines in corpus.items() if (m := match_lines(parsed, lines)) is not None]
    return sorted(scored, key=lambda item: (-item[0], item[1]))


def generated_corpus(reads: Reads) -> dict[str, tuple[OcrLine, ...]]:
    """The generated set: rendered photos by their render id, untouched ones by their Corel id."""
    return {
        (f"render-{r.index}" if r.text is not None else f"corel-{r.index}"): reads.lines[
            f"render-{r.index}" if r.text is not None else f"corel-{r.index}"
        ]
        for r in reads.renders
    }


def dataset_misses(reads: Reads, pairs) -> list:
    """The (image, string) pairs whose image is not the first hit among the Corel photos."""
    corpus = {k: v for k, v in reads.lines.items() if not k.startswith("render-")}
    misses = []
    for name, text in pairs:
        ranked = ranking(text, corpus)
        if not ranked or ranked[0][1] != f"ocr-{name}":
            misses.append((name, text, ranked[:3], [line.text for line in corpus[f"ocr-{name}"]]))
    return misses


def test_every_dataset_string_is_found_first_among_corel(ocr_reads: Reads) -> None:
    pairs = [(name, text) for name, strings in DATASET_STRINGS.items() for text in strings]
    misses = dataset_misses(ocr_reads, pairs)
    assert not misses, misses


@dataclass(frozen=True)
class Rates:
    """The generated set's measured rates, and what missed (for the assertion messages)."""

    words_first: float
    word_misses: list
    substrings_first: float
    substrings: int


@pytest.fixture(scope="session")
def generated_rates(ocr_reads: Reads) -> Rates:
    corpus = generated_corpus(ocr_reads)
    rendered = [r for r in ocr_reads.renders if r.text is not None]
    firsts = [bool(ranked := ranking(r.text, corpus)) and ranked[0][1] == f"render-{r.index}" for r in rendered]
    misses = [(r.text, r.description, [line.text for line in corpus[f"render-{r.index}"]])
              for r, first in zip(rendered, firsts) if not first]
    total = first = 0
    for render in (r for r in rendered if r.is_code):
        compact = re.sub(r"[^A-Za-z0-9]", "", render.text)
        for start in range(len(compact) - 3):
            ranked = ranking(compact[start : start + 4], corpus)
            total += 1
            first += bool(ranked) and ranked[0][1] == f"render-{render.index}"
    rates = Rates(sum(firsts) / len(rendered), misses, first / total, total)
    print(f"\nrendered strings found first: {sum(firsts)}/{len(rendered)} = {rates.words_first:.3f}; "
          f"4-character substrings of codes found first: {first}/{total} = {rates.substrings_first:.3f}")
    return rates


# Regression floors: the first version measured 0.467 and 0.547 on the full set (4 DejaVu
# fonts); with all 11 fonts installed, the previous pipeline measured 0.577 and 0.571
# in-process, and this one (turned lines also read as they were, the other passes' boxes
# read with the best reading per region kept, detection on the image tilted by +-20
# degrees) 0.623 and 0.604 in-process, and with round 4's two more detection looks (a
# CLAHE-equalised copy, the PP-OCRv5 mobile detector) 0.650 and 0.629 in-process, and
# with round 5's boxes grown along the line 0.693 and 0.645 in-process
# (docs/quality.md, "OCR"). The floors leave a margin for the smaller sets
# (OCR_QUALITY_SCALE) and fewer installed fonts, so a pipeline change that reads clearly
# worse fails.
WORDS_FLOOR, SUBSTRINGS_FLOOR = 0.64, 0.60


def test_rendered_words_find_their_photo_first(generated_rates: Rates) -> None:
    assert generated_rates.words_first >= WORDS_FLOOR, generated_rates.word_misses


def test_code_substrings_find_their_photo_first(generated_rates: Rates) -> None:
    assert generated_rates.substrings_first >= SUBSTRINGS_FLOOR


@pytest.mark.xfail(strict=True, reason="issue 12's goal (95%) is not met: 69%; ~47 of the 300 "
                   "strings read as nothing, ~45 in part or misread (docs/quality.md, OCR)")
def test_rendered_words_goal_95_percent(generated_rates: Rates) -> None:
    assert generated_rates.words_first >= 0.95


@pytest.mark.xfail(strict=True, reason="issue 12's goal (95%) is not met (docs/quality.md, OCR)")
def test_code_substrings_goal_95_percent(generated_rates: Rates) -> None:
    assert generated_rates.substrings_first >= 0.95


def test_absent_words_hit_no_untouched_photo(ocr_reads: Reads) -> None:
    untouched = {f"corel-{r.index}": ocr_reads.lines[f"corel-{r.index}"] for r in ocr_reads.renders if r.text is None}
    rng = random.Random(99)
    rendered = {r.text.lower() for r in ocr_reads.renders if r.text is not None}
    words = [w for w in ("".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 9))) for _ in range(60))
             if w not in rendered][:50]
    clean_rates = []
    for word in words:
        hits = [key for score, key in ranking(word, untouched) if score > MATCH_THRESHOLD]
        clean_rates.append(1 - len(hits) / len(untouched))
    print(f"\nuntouched photos without a hit, mean over {len(words)} absent words: {sum(clean_rates) / len(words):.4f}"
          f" (worst word {min(clean_rates):.4f})")
    assert min(clean_rates) >= 0.99

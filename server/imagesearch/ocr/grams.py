"""The engine-side index of OCR text: character n-grams as a keyword list per point.

Qdrant's full-text index matches whole tokens, but queries here match inside tokens and
with one edit. So each point stores the distinct 1-, 2- and 3-grams of its lines' compact
forms (normalize.CompactText) as a keyword payload list (OCR_GRAMS_FIELD), and a query
becomes a filter on those keywords that every true match passes:

- a pattern of 1-3 characters (exact only): the gram equal to it;
- 4 characters (exact only): its trigrams;
- 5 characters (one edit allowed): its first trigram OR its last OR (its first and last
  bigrams), see _five_with_one_edit;
- 6 or more (one edit allowed; two from 9): an edit changes at most one of the pattern's
  two (three) parts, so another part occurs exactly: (all trigrams of one part) OR (all of
  another)..., a part of 3 characters standing as one gram;
- several words in ALL_WORDS mode: (every word's condition) OR (the condition of the words
  run together, TextQuery.joined).

Candidates passing the filter are then verified and scored in Python (matching.py), which
removes the filter's false positives (grams present but not contiguous).
"""

from __future__ import annotations

from typing import Iterable

from imagesearch.ocr.lines import OcrLine
from imagesearch.ocr.matching import split_parts
from imagesearch.ocr.normalize import CompactText
from imagesearch.ocr.query import TextQuery
from imagesearch.store.filters import OCR_GRAMS_FIELD, Filter, Match

GRAM_SIZES = (1, 2, 3)
# A long pattern's trigrams are mostly redundant for filtering; this many, spread over
# the pattern, keep the condition small while still selecting well.
MAX_GRAMS_PER_PART = 6


def line_grams(lines: Iterable[OcrLine]) -> list[str]:
    """The sorted distinct n-grams of the lines' compact forms (empty for no text)."""
    grams: set[str] = set()
    for line in lines:
        text = CompactText.of(line.text).text
        for size in GRAM_SIZES:
            grams.update(text[i : i + size] for i in range(len(text) - size + 1))
    return sorted(grams)


def _all_of(part: str) -> Filter:
    """A filter: the point has every (sampled) trigram of `part`, or `part` itself when shorter."""
    if len(part) <= 3:
        return Filter(must=(Match(OCR_GRAMS_FIELD, part),))
    trigrams = list(dict.fromkeys(part[i : i + 3] for i in range(len(part) - 2)))
    if len(trigrams) > MAX_GRAMS_PER_PART:
        step = (len(trigrams) - 1) / (MAX_GRAMS_PER_PART - 1)
        trigrams = [trigrams[round(k * step)] for k in range(MAX_GRAMS_PER_PART)]
    return Filter(must=tuple(Match(OCR_GRAMS_FIELD, gram) for gram in trigrams))


def pattern_filter(pattern: str, max_edits: int) -> Filter:
    """What every point containing `pattern` (within `max_edits`, 0 or 1) must pass."""
    if max_edits == 0:
        return _all_of(pattern)
    if max_edits == 1 and len(pattern) == 5:
        return _five_with_one_edit(pattern)
    # Each edit touches at most one of max_edits + 1 parts: one part occurs exactly.
    return Filter(should=tuple(_all_of(part) for part in split_parts(pattern, max_edits + 1)))


def _five_with_one_edit(p: str) -> Filter:
    """A 5-character pattern with one edit: its first trigram, or its last, or its first
    and last bigrams.

    An edit of character 0 or 1 (or an insertion before character 2) leaves p[2:5]; of 3
    or 4 (or an insertion after character 2) leaves p[0:3]; of character 2 leaves p[0:2]
    and p[3:5]. The halves rule would make p[0:2] alone a candidate condition: one bigram
    passes ~5% of points (bench.ocr, 100k points: whole-word p95 2.3 s), this ~0.4%.
    """
    return Filter(should=(
        Filter(must=(Match(OCR_GRAMS_FIELD, p[0:3]),)),
        Filter(must=(Match(OCR_GRAMS_FIELD, p[2:5]),)),
        Filter(must=(Match(OCR_GRAMS_FIELD, p[0:2]), Match(OCR_GRAMS_FIELD, p[3:5]))),
    ))


def candidate_filter(query: TextQuery) -> Filter:
    """The engine filter for `query`: every pattern's condition must hold."""
    words = Filter(must=tuple(pattern_filter(p, query.max_edits(p)) for p in query.patterns))
    if query.joined is None:
        return words
    return Filter(should=(words, pattern_filter(query.joined, query.max_edits(query.joined))))

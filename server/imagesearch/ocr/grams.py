"""The engine-side index of OCR text: character n-grams as a keyword list per point.

Qdrant's full-text index matches whole tokens, but queries here match inside tokens and
with one edit. So each point stores the distinct 1-, 2- and 3-grams of its lines' compact
forms (normalize.CompactText) as a keyword payload list (OCR_GRAMS_FIELD), and a query
becomes a filter on those keywords that every true match passes:

- a pattern of 1-3 characters (exact only): the gram equal to it;
- 4 characters (exact only): its trigrams;
- 5 or more (one edit allowed): an edit changes at most one of the pattern's two halves,
  so the other half occurs exactly: (all trigrams of the left half) OR (all of the right),
  a half of 2-3 characters standing as one gram.

Candidates passing the filter are then verified and scored in Python (matching.py), which
removes the filter's false positives (grams present but not contiguous).
"""

from __future__ import annotations

from typing import Iterable

from imagesearch.ocr.lines import OcrLine
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
    half = len(pattern) // 2
    return Filter(should=(_all_of(pattern[:half]), _all_of(pattern[half:])))


def candidate_filter(query: TextQuery) -> Filter:
    """The engine filter for `query`: every pattern's condition must hold."""
    return Filter(must=tuple(pattern_filter(p, query.max_edits(p)) for p in query.patterns))

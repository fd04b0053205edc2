"""Matching a parsed query against an image's OCR lines, and the score of a match (0..1).

Score (documented in docs/ocr.md): for each pattern, its best occurrence over the lines,
    kind x edit x (0.75 + 0.25 x line confidence)
where kind is 1.0 when the occurrence starts and ends on token boundaries (a whole word,
or whole words for a phrase), 0.9 when one end is on a boundary (a prefix or suffix,
"RE16" in "RE16 TGK"), 0.8 inside a token ("8885" in "027-88852022"), and edit is 1.0 for
an exact occurrence, 0.75 for one with one edit. The image's score is the mean over the
patterns; an image misses when any pattern has no occurrence. Every match therefore
scores more than MATCH_THRESHOLD (the lowest, 0.8 x 0.75 x 0.875 at confidence 0.5, the
model's floor, is 0.525), and no non-match is returned at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from imagesearch.ocr.fuzzy import Occurrence, approximate_occurrences, exact_occurrences
from imagesearch.ocr.lines import OcrLine
from imagesearch.ocr.normalize import CompactText
from imagesearch.ocr.query import TextQuery

MATCH_THRESHOLD = 0.5
KIND_WHOLE, KIND_EDGE, KIND_INSIDE = 1.0, 0.9, 0.8
EDITED = 0.75


@dataclass(frozen=True)
class MatchedLine:
    """A line that holds at least one pattern, by its index in the image's lines."""

    index: int
    line: OcrLine


@dataclass(frozen=True)
class TextMatch:
    """An image that matches: its score (0..1) and the lines the patterns were found in."""

    score: float
    lines: tuple[MatchedLine, ...]


def occurrence_score(occurrence: Occurrence, compact: CompactText, confidence: float) -> float:
    """The score of one occurrence of a pattern in a line (formula in the module docstring)."""
    on_edges = (occurrence.start in compact.boundaries) + (occurrence.end in compact.boundaries)
    kind = (KIND_INSIDE, KIND_EDGE, KIND_WHOLE)[on_edges]
    edit = 1.0 if occurrence.edits == 0 else EDITED
    return kind * edit * (0.75 + 0.25 * min(max(confidence, 0.0), 1.0))


def best_in_line(pattern: str, max_edits: int, compact: CompactText, confidence: float) -> float:
    """The best score of `pattern` in one line; 0.0 when it does not occur."""
    if not compact.text:
        return 0.0
    occurrences = exact_occurrences(pattern, compact.text)
    if not occurrences and max_edits:
        occurrences = approximate_occurrences(pattern, compact.text, max_edits)
    return max((occurrence_score(o, compact, confidence) for o in occurrences), default=0.0)


def match_lines(query: TextQuery, lines: Sequence[OcrLine]) -> TextMatch | None:
    """The match of `query` in an image with these lines, or None when any pattern is missing."""
    compacts = [CompactText.of(line.text) for line in lines]
    total = 0.0
    matched: set[int] = set()
    for pattern in query.patterns:
        edits = query.max_edits(pattern)
        scores = [best_in_line(pattern, edits, c, line.confidence) for c, line in zip(compacts, lines)]
        best = max(scores, default=0.0)
        if best <= 0.0:
            return None
        total += best
        matched.add(scores.index(best))
    return TextMatch(
        score=total / len(query.patterns),
        lines=tuple(MatchedLine(i, lines[i]) for i in sorted(matched)),
    )

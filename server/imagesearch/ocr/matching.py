"""Matching a parsed query against an image's OCR lines, and the score of a match (0..1).

Score (documented in docs/ocr.md): for each pattern, its best occurrence over the lines,
    kind x edit x (0.75 + 0.25 x line confidence)
where kind is 1.0 when the occurrence starts and ends on token boundaries (a whole word,
or whole words for a phrase), 0.9 when one end is on a boundary (a prefix or suffix,
"RE16" in "RE16 TGK"), 0.8 inside a token ("8885" in "027-88852022"), and edit is 1.0 for
an exact occurrence, 0.75 for one with one edit, 0.72 with two (patterns of 9+
characters). The image's score is the mean over the patterns; an image misses when any
pattern has no occurrence, unless the words run together (TextQuery.joined) occur as one
pattern. Every match therefore scores more than MATCH_THRESHOLD (the lowest, 0.8 x 0.72 x
0.875 at confidence 0.5, the model's floor, is 0.504), and no non-match is returned at all.
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
EDITED, EDITED_TWICE = 0.75, 0.72


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
    edit = (1.0, EDITED, EDITED_TWICE)[min(occurrence.edits, 2)]
    return kind * edit * (0.75 + 0.25 * min(max(confidence, 0.0), 1.0))


def best_in_line(pattern: str, max_edits: int, compact: CompactText, confidence: float) -> float:
    """The best score of `pattern` in one line; 0.0 when it does not occur."""
    if not compact.text:
        return 0.0
    occurrences = exact_occurrences(pattern, compact.text)
    if not occurrences and max_edits and _may_hold(pattern, max_edits, compact.text):
        occurrences = approximate_occurrences(pattern, compact.text, max_edits)
    return max((occurrence_score(o, compact, confidence) for o in occurrences), default=0.0)


def _may_hold(pattern: str, max_edits: int, text: str) -> bool:
    """False when `pattern` cannot occur in `text` within `max_edits` edits: split into
    max_edits + 1 parts, one part then occurs exactly (each edit touches at most one).
    Skips the Python edit-distance scan for most lines (the n-gram filter's candidates
    rarely hold the word), which dominated text-query time at 100k points."""
    return any(part in text for part in split_parts(pattern, max_edits + 1))


def split_parts(pattern: str, count: int) -> list[str]:
    """`pattern` cut into `count` consecutive parts of near-equal length (longer ones last)."""
    cuts = [len(pattern) * k // count for k in range(count + 1)]
    return [pattern[cuts[k]:cuts[k + 1]] for k in range(count)]


def match_lines(query: TextQuery, lines: Sequence[OcrLine]) -> TextMatch | None:
    """The match of `query` in an image with these lines, or None when any pattern is
    missing (and, for several words, their run-together form is missing too)."""
    compacts = [CompactText.of(line.text) for line in lines]
    found = _match_patterns(query.patterns, query, compacts, lines)
    if found is None and query.joined is not None:
        found = _match_patterns((query.joined,), query, compacts, lines)
    return found


def _match_patterns(
    patterns: Sequence[str], query: TextQuery, compacts: list[CompactText], lines: Sequence[OcrLine]
) -> TextMatch | None:
    total = 0.0
    matched: set[int] = set()
    for pattern in patterns:
        edits = query.max_edits(pattern)
        scores = [best_in_line(pattern, edits, c, line.confidence) for c, line in zip(compacts, lines)]
        best = max(scores, default=0.0)
        if best <= 0.0:
            return None
        total += best
        matched.add(scores.index(best))
    return TextMatch(
        score=total / len(patterns),
        lines=tuple(MatchedLine(i, lines[i]) for i in sorted(matched)),
    )

"""Finding a word inside a line, exactly or with one edit (Sellers' approximate substring search)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Occurrence:
    """Where `pattern` was found in a text: [start, end) and the edits it took (0 or more)."""

    start: int
    end: int
    edits: int


def exact_occurrences(pattern: str, text: str) -> list[Occurrence]:
    """Every (possibly overlapping) exact occurrence of `pattern` in `text`."""
    found = []
    start = text.find(pattern)
    while start >= 0:
        found.append(Occurrence(start, start + len(pattern), 0))
        start = text.find(pattern, start + 1)
    return found


def approximate_occurrences(pattern: str, text: str, max_edits: int) -> list[Occurrence]:
    """Substrings of `text` within `max_edits` edits (insert, delete, substitute) of `pattern`.

    Dynamic programming over (pattern prefix, text position) where a match may start
    anywhere in the text; each cell carries the start of its best alignment. O(len(pattern)
    x len(text)): a few hundred cells for a word against an OCR line.
    """
    m = len(pattern)
    costs = list(range(m + 1))
    starts = [0] * (m + 1)
    found: list[Occurrence] = []
    for j, char in enumerate(text, start=1):
        new_costs, new_starts = [0] * (m + 1), [j] * (m + 1)
        for i in range(1, m + 1):
            options = (
                (costs[i - 1] + (pattern[i - 1] != char), starts[i - 1]),  # match / substitute
                (new_costs[i - 1] + 1, new_starts[i - 1]),  # pattern char missing from the text
                (costs[i] + 1, starts[i]),  # extra char in the text
            )
            new_costs[i], new_starts[i] = min(options, key=lambda option: (option[0], -option[1]))
        costs, starts = new_costs, new_starts
        if costs[m] <= max_edits:
            found.append(Occurrence(starts[m], j, costs[m]))
    return found

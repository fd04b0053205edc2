"""Parsing an OCR text query: its words (or one phrase) in folded, compact form."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from imagesearch.ocr.errors import EmptyTextQuery, TextQueryTooLong
from imagesearch.ocr.normalize import tokens

MAX_QUERY_CHARS = 256
MAX_QUERY_WORDS = 16
# Words this long (folded) may match with one edit (insert, delete or substitute):
# shorter ones would match too much by accident ("cat" is one edit from "car", "cut", "at"...).
FUZZY_MIN_LENGTH = 5


class MatchMode(enum.Enum):
    """ALL_WORDS: every word must appear in the image's text (any line, any order).
    PHRASE: the words must appear together, in order, within one line."""

    ALL_WORDS = "all_words"
    PHRASE = "phrase"


@dataclass(frozen=True)
class TextQuery:
    """A parsed query: the patterns to find (one per word, or the whole phrase as one)."""

    text: str
    mode: MatchMode
    patterns: tuple[str, ...]

    @staticmethod
    def max_edits(pattern: str) -> int:
        """Edits a pattern may take: 1 from FUZZY_MIN_LENGTH characters on, else 0."""
        return 1 if len(pattern) >= FUZZY_MIN_LENGTH else 0


def parse_query(text: str, mode: MatchMode = MatchMode.ALL_WORDS) -> TextQuery:
    """The query's patterns; EmptyTextQuery or TextQueryTooLong when it cannot be searched."""
    if len(text) > MAX_QUERY_CHARS:
        raise TextQueryTooLong(f"the text query has {len(text)} characters, more than {MAX_QUERY_CHARS}")
    words = tokens(text)
    if not words:
        raise EmptyTextQuery("the text query has no letter or digit")
    if len(words) > MAX_QUERY_WORDS:
        raise TextQueryTooLong(f"the text query has {len(words)} words, more than {MAX_QUERY_WORDS}")
    if mode is MatchMode.PHRASE:
        return TextQuery(text, mode, ("".join(words),))
    # Repeated words add nothing to an all-words condition.
    return TextQuery(text, mode, tuple(dict.fromkeys(words)))

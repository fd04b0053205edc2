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
# ... and from this long with two: on the generated set (docs/quality.md, OCR) codes and
# long words read with two errors ("EGBIEIC" for "HEGBIEICG") were a common
# near miss; two edits in 9+ characters match no absent word on the untouched photos.
FUZZY_TWO_LENGTH = 9


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
        """Edits a pattern may take: 1 from FUZZY_MIN_LENGTH characters on, 2 from
        FUZZY_TWO_LENGTH on, else 0."""
        if len(pattern) >= FUZZY_TWO_LENGTH:
            return 2
        return 1 if len(pattern) >= FUZZY_MIN_LENGTH else 0

    @property
    def joined(self) -> str | None:
        """ALL_WORDS with several words: the words run together, matched as one phrase when
        some word alone is missing (a code such as "SKU-64855-KQ" read "SKO64855-KQ": "sku"
        is short, so exact, but "sku64855kq" is one edit away); None otherwise."""
        if self.mode is MatchMode.PHRASE or len(self.patterns) < 2:
            return None
        return "".join(self.patterns)


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

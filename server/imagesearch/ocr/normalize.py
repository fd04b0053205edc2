"""Folding text so that queries match OCR output despite case, accents and look-alike glyphs.

Both the recognised lines and the queries go through `fold`; matching then works on the
*compact* form of a line: its letters and digits only, every other character (spaces,
punctuation, symbols) dropped. So "027-88852022" is "02788852022" and "8885" is found in
it, "-40°C" matches a line read as "-40C", and a phrase matches a line whose spaces the
recogniser missed ("MovieShotsDataset").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# OCR confuses these glyphs (O/0, l/1/I) in both directions; folding each group to one
# character makes "B0X" find "BOX" and "1ine" find "line". Applied after casefolding.
CONFUSABLE = str.maketrans({"o": "0", "l": "1", "i": "1"})
_TOKEN = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Compatibility-decomposed (full-width forms to ASCII), accents dropped, casefolded, confusables merged."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", bare).casefold().translate(CONFUSABLE)


def tokens(text: str) -> list[str]:
    """The runs of letters and digits of the folded `text` (CJK runs count as one token)."""
    return _TOKEN.findall(fold(text))


@dataclass(frozen=True)
class CompactText:
    """A line's folded letters and digits, and where its tokens start and end in that string."""

    text: str
    boundaries: frozenset[int]

    @classmethod
    def of(cls, line: str) -> "CompactText":
        parts = tokens(line)
        edges = {0}
        position = 0
        for part in parts:
            position += len(part)
            edges.add(position)
        return cls("".join(parts), frozenset(edges))

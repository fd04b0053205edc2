"""Errors of OCR text queries (the API maps every one to INVALID_ARGUMENT)."""

from __future__ import annotations


class InvalidTextQuery(ValueError):
    """Base class: the query cannot be searched for; the message says why."""


class EmptyTextQuery(InvalidTextQuery):
    """The query has no letter or digit (empty, blank or punctuation only)."""


class TextQueryTooLong(InvalidTextQuery):
    """The query is longer than MAX_QUERY_CHARS or has more than MAX_QUERY_WORDS words."""

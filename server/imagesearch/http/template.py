"""Path templates of `google.api.http` rules (AIP-127): parsing and matching raw URL paths.

Grammar (google/api/http.proto):

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

Matching works on the *raw* path (still percent-encoded): `*` matches one raw segment, so
an item ID holding '/' arrives as one segment "a%2Fb". A variable spanning several
segments (`{name=collections/*/items/*}`) binds the raw text unchanged: in this API a
resource name's item segment is itself percent-encoded, so the URL path *is* the resource
name ("collections/c/items/shoes%2Fred%201"). http.proto would decode such a variable
except for %2F; that would turn "%20" into " " and break the name, so we do not. A
variable of exactly one segment (`{id}` or `{id=*}`) is decoded, as http.proto says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_LITERAL = re.compile(r"[A-Za-z0-9_.~\-]+$")


class TemplateError(ValueError):
    """A path template that breaks the grammar."""


@dataclass(frozen=True)
class Segment:
    """One template segment: a literal, `*` (one segment) or `**` (the rest)."""

    kind: str  # "literal", "*" or "**"
    text: str = ""  # the literal


@dataclass(frozen=True)
class Variable:
    """A field bound to segments [start, end) of the template (end None: through `**`)."""

    field_path: str
    start: int
    end: int
    pattern: str  # its segments as written, e.g. "collections/*"

    @property
    def single_segment(self) -> bool:
        return self.pattern == "*"


@dataclass(frozen=True)
class PathTemplate:
    """A parsed template; `match` binds its variables in a request path."""

    text: str
    segments: tuple[Segment, ...]
    variables: tuple[Variable, ...]
    verb: str

    @classmethod
    def parse(cls, text: str) -> PathTemplate:
        if not text.startswith("/"):
            raise TemplateError(f"{text!r}: a template starts with '/'")
        body, verb = _split_verb(text[1:])
        segments: list[Segment] = []
        variables: list[Variable] = []
        for token in _tokens(body, text):
            if token.startswith("{"):
                field_path, _, pattern = token[1:-1].partition("=")
                pattern = pattern or "*"
                if not _IDENT.match(field_path):
                    raise TemplateError(f"{text!r}: bad field path {field_path!r}")
                start = len(segments)
                segments.extend(_plain_segment(part, text) for part in pattern.split("/"))
                variables.append(Variable(field_path, start, len(segments), pattern))
            else:
                segments.append(_plain_segment(token, text))
        if any(s.kind == "**" for s in segments[:-1]):
            raise TemplateError(f"{text!r}: '**' is supported as the last segment only")
        return cls(text, tuple(segments), tuple(variables), verb)

    def match(self, raw_path: str) -> dict[str, str] | None:
        """The variables' values in `raw_path` (percent-encoded, no query), or None."""
        if not raw_path.startswith("/"):
            return None
        path = raw_path[1:]
        if self.verb:
            path, sep, verb = path.rpartition(":")
            # The verb follows the last segment, never a '/'.
            if not sep or verb != self.verb or "/" in verb:
                return None
        parts = path.split("/")
        if not self._segments_match(parts):
            return None
        bound: dict[str, str] = {}
        for var in self.variables:
            end = len(parts) if self.segments[var.end - 1].kind == "**" else var.end
            raw = "/".join(parts[var.start:end])
            bound[var.field_path] = unquote(raw) if var.single_segment else raw
        return bound

    def _segments_match(self, parts: list[str]) -> bool:
        greedy = bool(self.segments) and self.segments[-1].kind == "**"
        fixed = len(self.segments) - (1 if greedy else 0)
        if len(parts) < fixed or (not greedy and len(parts) != fixed):
            return False
        for segment, part in zip(self.segments[:fixed], parts):
            if segment.kind == "literal" and part != segment.text:
                return False
            if segment.kind == "*" and not part:
                return False
        return not greedy or all(parts[fixed:])

    def openapi_path(self, names: dict[str, list[str]]) -> str:
        """The template as an OpenAPI path: every `*` becomes "{<name>}" from `names`
        (per field path, one name per `*` in order)."""
        out: list[str] = []
        by_start = {v.start: v for v in self.variables}
        index = 0
        while index < len(self.segments):
            var = by_start.get(index)
            if var is None:
                out.append(self.segments[index].text)
                index += 1
                continue
            stars = iter(names[var.field_path])
            for segment in self.segments[var.start:var.end]:
                out.append(segment.text if segment.kind == "literal" else "{" + next(stars) + "}")
            index = var.end
        return "/" + "/".join(out) + (":" + self.verb if self.verb else "")


def _split_verb(body: str) -> tuple[str, str]:
    # A ':' after the last '}' and the last '/' starts the verb ("{name=*}:get" or "a/b:get").
    last = body.rsplit("/", 1)[-1].rsplit("}", 1)[-1]
    if ":" not in last:
        return body, ""
    verb = last.rsplit(":", 1)[1]
    if not _LITERAL.match(verb):
        raise TemplateError(f"bad verb {verb!r}")
    return body[: -len(verb) - 1], verb


def _tokens(body: str, text: str) -> list[str]:
    """Splits "a/{x=b/*}/c" into ["a", "{x=b/*}", "c"]: '/' inside braces does not split."""
    tokens, depth, current = [], 0, ""
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if depth not in (0, 1):
            raise TemplateError(f"{text!r}: unbalanced or nested braces")
        if ch == "/" and depth == 0:
            tokens.append(current)
            current = ""
        else:
            current += ch
    if depth:
        raise TemplateError(f"{text!r}: unbalanced braces")
    tokens.append(current)
    return tokens


def _plain_segment(token: str, text: str) -> Segment:
    if token in ("*", "**"):
        return Segment(token)
    if not _LITERAL.match(token):
        raise TemplateError(f"{text!r}: bad segment {token!r}")
    return Segment("literal", token)

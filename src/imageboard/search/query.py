"""What a visitor types into the search box, made safe for the database's query language.

Input is hostile: it must never reach FTS5's MATCH syntax or PostgreSQL's ``to_tsquery``
syntax as written. It is parsed here into a small, fixed language:

    word            the word must appear (every word must: AND)
    "a phrase"      the words in this order
    word*           a word starting with this (3 characters at least before the star)
    -word, -"a b"   must not appear

Anything else (``AND``, ``OR``, ``NEAR(``, brackets, colons, carets, backslashes) is plain
text: a word like any other or punctuation between words. Each term is then written out as a
quoted FTS5 string (``"…"`` with ``"`` doubled) or handed to PostgreSQL as a bound parameter
of ``phraseto_tsquery``; the database's own tokenizer splits it into words, so both see what
they index.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from imageboard.core.errors import InvalidInput

MAX_QUERY_LENGTH = 200
MAX_TERMS = 10
MIN_PREFIX = 3

# An optional minus, then a quoted phrase (the closing quote may be missing) or a run of
# characters that are neither space nor quote.
_TERM = re.compile(r'(-?)(?:"([^"]*)"?|([^\s"]+))')


@dataclass(frozen=True, slots=True)
class Term:
    text: str
    prefix: bool = False
    exclude: bool = False


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    terms: tuple[Term, ...]

    @property
    def include(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if not t.exclude)

    @property
    def exclude(self) -> tuple[Term, ...]:
        return tuple(t for t in self.terms if t.exclude)

    @property
    def searchable(self) -> bool:
        """False when nothing could match (only punctuation, or only exclusions)."""
        return bool(self.include)


def clean(raw: str) -> str:
    """Control characters (NUL among them, which PostgreSQL refuses in text) become spaces."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in raw).strip()


def parse(raw: str) -> SearchQuery:
    """Parse a query, or raise InvalidInput (empty, too long, too many terms)."""
    text = clean(raw)
    if not text:
        raise InvalidInput("Type something to search for.", field="q", code="empty_query")
    if len(text) > MAX_QUERY_LENGTH:
        raise InvalidInput(
            f"The search is too long: {len(text)} characters, at most {MAX_QUERY_LENGTH}.",
            field="q",
            code="query_too_long",
        )
    terms: list[Term] = []
    for match in _TERM.finditer(text):
        minus, phrase, word = match.groups()
        term = _term(phrase if phrase is not None else word, quoted=phrase is not None, exclude=bool(minus))
        if term is not None and term not in terms:
            terms.append(term)
    if len(terms) > MAX_TERMS:
        raise InvalidInput(
            f"The search has too many words: {len(terms)}, at most {MAX_TERMS}.",
            field="q",
            code="query_too_complex",
        )
    return SearchQuery(text=text, terms=tuple(terms))


def _term(raw: str, *, quoted: bool, exclude: bool) -> Term | None:
    prefix = False
    text = " ".join(raw.split())
    if not quoted and text.endswith("*"):
        stem = text.rstrip("*")
        # A prefix must be one plain word, long enough not to expand to half the dictionary.
        prefix = len(stem) >= MIN_PREFIX and stem.isalnum()
        text = stem
    if not any(ch.isalnum() for ch in text):
        return None  # punctuation only: no word for either database to look for
    return Term(text=text, prefix=prefix, exclude=exclude)


def fts5_match(query: SearchQuery) -> str:
    """The FTS5 MATCH expression: every term a quoted string, joined with AND / NOT."""
    include = " AND ".join(_fts5_string(t) for t in query.include)
    if not include:
        raise ValueError("a query without words to include cannot be matched")
    exclude = "".join(f" NOT {_fts5_string(t)}" for t in query.exclude)
    return f"({include}){exclude}" if exclude else include


def _fts5_string(term: Term) -> str:
    quoted = '"' + term.text.replace('"', '""') + '"'
    return f"{quoted}*" if term.prefix else quoted

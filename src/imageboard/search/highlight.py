"""Highlighted snippets as safe HTML.

The database marks matches (FTS5 ``snippet()``/``highlight()``, PostgreSQL ``ts_headline``)
with two Unicode noncharacters — code points reserved for a program's internal use, which no
tag or entity contains — instead of HTML. Here the text is HTML-escaped and only then are the
markers turned into ``<mark>``/``</mark>``, so post text can never become markup. A post that
itself contains a marker character gets at worst an extra, balanced highlight.
"""

from __future__ import annotations

import html

START = "\ufdd0"
STOP = "\ufdd1"
ELLIPSIS = "…"


def marked_html(text: str) -> str:
    """Escape ``text`` (whitespace runs collapsed) and turn the markers into balanced <mark> tags."""
    escaped = html.escape(" ".join(text.split()), quote=True)
    out: list[str] = []
    open_ = False
    for chunk in _split_markers(escaped):
        if chunk == START:
            if not open_:
                out.append("<mark>")
                open_ = True
        elif chunk == STOP:
            if open_:
                out.append("</mark>")
                open_ = False
        else:
            out.append(chunk)
    if open_:
        out.append("</mark>")
    return "".join(out).replace("<mark></mark>", "")


def plain(text: str) -> str:
    """The text without markers (for plain-text fields)."""
    return text.replace(START, "").replace(STOP, "")


def _split_markers(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch in (START, STOP):
            if current:
                parts.append("".join(current))
                current = []
            parts.append(ch)
        else:
            current.append(ch)
    if current:
        parts.append("".join(current))
    return parts

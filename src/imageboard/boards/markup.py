"""Comment markup: a poster's raw text -> the HTML 4chan emits in a post's ``com`` field.

The same HTML is served by our pages and by the 4chan-compatible JSON API, so the shapes
(class names, hrefs, ``<br>`` line breaks, ``&#039;``) follow 4chan exactly.

Safety model: the renderer never copies markup from the input. Every input character ends up
either HTML-escaped or consumed as a marker, and every tag/attribute in the output comes
from a fixed string in this module. Attribute values taken from the input (URLs, board
names) are attribute-escaped.

Pipeline, all linear in the input length:
  1. normalise   - newlines, control characters, surrounding blank lines;
  2. tokenise    - ``[code]`` blocks, then each line scanned left to right for markers;
  3. pair        - decide which markers are real (balanced) and which stay literal text;
  4. emit        - a tiny element stack that closes and lazily re-opens inline elements,
                   so overlapping markup (``'''a [spoiler]b'''c[/spoiler]``) and spoilers
                   that cross greentext lines still produce properly nested HTML.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_POST_NO", "QuoteRef", "comment_excerpt", "find_quotes", "render_comment"]

#: Largest post number a quote may reference (what a JavaScript client can hold exactly).
MAX_POST_NO: Final = 2**53 - 1

# Spoilers are the only markup that nests arbitrarily; bounding the depth bounds the work the
# emitter does when it has to close and re-open them, which keeps rendering linear.
_MAX_SPOILER_DEPTH: Final = 8

# C0 controls other than \t and \n (\r is normalised before this runs), plus lone
# surrogates, which would make the page fail to encode as UTF-8.
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b-\x1f\ud800-\udfff]")
# Characters that can start markup inside a line; everything between them is plain text.
_CANDIDATE_RE: Final = re.compile(r"[>\['h]")
_BOARD_RE: Final = re.compile(r"([a-z0-9]{1,32})/")
_DIGITS_RE: Final = re.compile(r"[0-9]+")
_APOSTROPHES_RE: Final = re.compile(r"'+")
_URL_RE: Final = re.compile(r"[^\s<>\"']+")
_URL_TRAILING: Final = frozenset(".,!?;:)")

_ESCAPES: Final = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#039;"}
)

# Token kinds.
_TEXT, _NEWLINE, _CODE, _GREEN, _QUOTE, _BOARD, _URL = range(7)
_SPOILER_OPEN, _SPOILER_CLOSE, _BOLD, _ITALIC = range(7, 11)
# Marker roles, decided by _pair().
_LITERAL, _OPEN, _CLOSE = range(3)
# Emitter elements: which open/close tags a marker stands for.
_ELEMENT_TAGS: Final = {
    _GREEN: ('<span class="quote">', "</span>"),
    _SPOILER_OPEN: ("<s>", "</s>"),
    _BOLD: ("<b>", "</b>"),
    _ITALIC: ("<i>", "</i>"),
}


@dataclass(frozen=True)
class QuoteRef:
    """A post referenced by a quote: ``>>123`` (current board) or ``>>>/b/123``."""

    board: str  # board URI the quote points at (the current board for a plain >>123)
    post_no: int


@dataclass(slots=True)
class _Token:
    kind: int
    raw: str  # the source text; unpaired markers and unknown boards fall back to it
    ref: QuoteRef | None = None
    cross_board: bool = False
    role: int = _LITERAL


def _escape(text: str) -> str:
    """Escape for both text and double-quoted attribute contexts, as 4chan does."""
    return text.translate(_ESCAPES)


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL_RE.sub("", text).rstrip()
    # Drop leading blank lines but keep the indentation of the first real line.
    first_visible = len(text) - len(text.lstrip())
    return text[text.rfind("\n", 0, first_visible) + 1 :]


def _post_no(digits: str) -> int | None:
    # Length check first: int() on a huge digit run is slow and may raise ValueError.
    if digits[0] == "0" or len(digits) > 16:
        return None
    number = int(digits)
    return number if number <= MAX_POST_NO else None


def _match_quote(line: str, i: int, board: str) -> tuple[_Token | None, int]:
    """Match ``>>123``, ``>>>/b/123`` or ``>>>/b/`` at ``line[i]`` (a ``>``).

    Returns the token (None for plain text) and the index just past what was examined and
    may be emitted as text; an invalid post number swallows its whole digit run so that
    ``>>99999999999999999999`` never links a prefix of it.
    """
    if line.startswith(">>>/", i):
        board_match = _BOARD_RE.match(line, i + 4)
        if board_match is not None:
            end = board_match.end()
            digits = _DIGITS_RE.match(line, end)
            if digits is None:
                return _Token(_BOARD, line[i:end]), end
            number = _post_no(digits.group())
            if number is None:
                return None, digits.end()
            ref = QuoteRef(board_match.group(1), number)
            return _Token(_QUOTE, line[i : digits.end()], ref, cross_board=True), digits.end()
    elif line.startswith(">>", i):
        digits = _DIGITS_RE.match(line, i + 2)
        if digits is not None:
            number = _post_no(digits.group())
            if number is None:
                return None, digits.end()
            return _Token(_QUOTE, line[i : digits.end()], QuoteRef(board, number)), digits.end()
    return None, i + 1


def _match_url(line: str, i: int) -> tuple[_Token | None, int]:
    if line.startswith("http://", i):
        scheme_len = 7
    elif line.startswith("https://", i):
        scheme_len = 8
    else:
        return None, i + 1
    match = _URL_RE.match(line, i)
    assert match is not None  # the scheme itself matches
    url = match.group()
    # Let a URL sit directly inside a spoiler: stop before a spoiler tag.
    for tag in ("[spoiler]", "[/spoiler]"):
        cut = url.find(tag)
        if cut != -1:
            url = url[:cut]
    # Sentence punctuation after a URL is not part of it; a ")" stays when it closes a
    # "(" inside the URL (Wikipedia-style links).
    opens, closes = url.count("("), url.count(")")
    end = len(url)
    while end > scheme_len and url[end - 1] in _URL_TRAILING:
        if url[end - 1] == ")":
            if closes <= opens:
                break
            closes -= 1
        end -= 1
    if end == scheme_len:
        return None, i + 1
    return _Token(_URL, url[:end]), i + end


def _tokenize_line(
    line: str, at_line_start: bool, board: str, known_boards: Container[str], out: list[_Token]
) -> None:
    if at_line_start and line.startswith(">"):
        # ">>123 text" is a reply, not greentext; ">implying >>123" is greentext.
        first, _ = _match_quote(line, 0, board)
        is_link = first is not None and (first.kind == _QUOTE or first.raw[4:-1] in known_boards)
        if not is_link:
            out.append(_Token(_GREEN, ""))
    text_start = pos = 0
    while (candidate := _CANDIDATE_RE.search(line, pos)) is not None:
        i = candidate.start()
        char = line[i]
        token: _Token | None = None
        if char == ">":
            token, end = _match_quote(line, i, board)
        elif char == "h":
            token, end = _match_url(line, i)
        elif char == "'":
            run = _APOSTROPHES_RE.match(line, i)
            assert run is not None  # line[i] is an apostrophe
            end = run.end()
            if end - i in (2, 3):
                token = _Token(_ITALIC if end - i == 2 else _BOLD, line[i:end])
        elif line.startswith("[spoiler]", i):
            token, end = _Token(_SPOILER_OPEN, "[spoiler]"), i + 9
        elif line.startswith("[/spoiler]", i):
            token, end = _Token(_SPOILER_CLOSE, "[/spoiler]"), i + 10
        else:
            end = i + 1
        pos = end
        if token is not None:
            if text_start < i:
                out.append(_Token(_TEXT, line[text_start:i]))
            out.append(token)
            text_start = end
    if text_start < len(line):
        out.append(_Token(_TEXT, line[text_start:]))


def _tokenize(text: str, board: str, known_boards: Container[str]) -> list[_Token]:
    tokens: list[_Token] = []

    def add_text(segment: str, at_line_start: bool) -> None:
        for index, line in enumerate(segment.split("\n")):
            if index:
                tokens.append(_Token(_NEWLINE, "\n"))
            _tokenize_line(line, at_line_start or index > 0, board, known_boards, tokens)

    pos, at_line_start = 0, True
    while (start := text.find("[code]", pos)) != -1:
        end = text.find("[/code]", start + 6)
        if end == -1:
            break  # no [/code] anywhere after: this and any later [code] are literal
        add_text(text[pos:start], at_line_start)
        body = text[start + 6 : end]
        # Newlines hugging the tags only serve to put the tags on their own lines; as <br>
        # they would show up as blank lines at the edges of the block.
        body = body.removeprefix("\n").removesuffix("\n")
        tokens.append(_Token(_CODE, body))
        pos = end + 7
        # A <br> right after the block would render as a blank line, so the newline ending
        # the [/code] line is consumed; the next line still counts as a line start.
        at_line_start = text.startswith("\n", pos)
        if at_line_start:
            pos += 1
    add_text(text[pos:], at_line_start)
    return tokens


def _pair(tokens: list[_Token]) -> None:
    """Mark balanced markers _OPEN/_CLOSE; everything else stays _LITERAL."""
    spoilers: list[_Token] = []
    overflow = 0  # literal [spoiler]s past the depth limit, each owed a literal [/spoiler]
    line_markers: dict[int, list[_Token]] = {_BOLD: [], _ITALIC: []}

    def pair_line() -> None:
        # Bold and italic never span lines: pair them up in order, an odd one out is text.
        for markers in line_markers.values():
            for opener, closer in zip(markers[0::2], markers[1::2], strict=False):
                opener.role, closer.role = _OPEN, _CLOSE
            markers.clear()

    for token in tokens:
        if token.kind == _SPOILER_OPEN:
            if len(spoilers) < _MAX_SPOILER_DEPTH:
                spoilers.append(token)
            else:
                overflow += 1
        elif token.kind == _SPOILER_CLOSE:
            if overflow:
                overflow -= 1
            elif spoilers:
                spoilers.pop().role = _OPEN
                token.role = _CLOSE
        elif token.kind in line_markers:
            line_markers[token.kind].append(token)
        elif token.kind in (_NEWLINE, _CODE):
            pair_line()
    pair_line()


class _Emitter:
    """Writes HTML while keeping open elements properly nested.

    ``stack`` holds the elements in effect, outermost first. Only ``stack[:live]`` have
    their open tag in the output; the rest were closed early (to close an element below
    them) and are re-opened just before the next content, so no empty ``<s></s>`` appear.
    """

    def __init__(self) -> None:
        self.out: list[str] = []
        self.stack: list[int] = []
        self.live = 0

    def content(self, html: str) -> None:
        for element in self.stack[self.live :]:
            self.out.append(_ELEMENT_TAGS[element][0])
        self.live = len(self.stack)
        self.out.append(html)

    def open(self, element: int) -> None:
        # Below any pending elements: they will be re-opened inside this one.
        self.stack.insert(self.live, element)
        self.live += 1
        self.out.append(_ELEMENT_TAGS[element][0])

    def close(self, element: int) -> None:
        if element not in self.stack:
            return
        index = len(self.stack) - 1 - self.stack[::-1].index(element)
        for above in reversed(self.stack[index : self.live]):
            self.out.append(_ELEMENT_TAGS[above][1])
        del self.stack[index]
        self.live = min(self.live, index)

    def finish(self) -> str:
        for element in reversed(self.stack[: self.live]):
            self.out.append(_ELEMENT_TAGS[element][1])
        return "".join(self.out)


def _quote_html(token: _Token, thread_no: int, targets: Mapping[QuoteRef, int]) -> str:
    assert token.ref is not None
    label = _escape(token.raw)
    thread = targets.get(token.ref)
    if thread is None:
        return f'<span class="deadlink">{label}</span>'
    ref = token.ref
    if not token.cross_board and thread == thread_no:
        href = f"#p{ref.post_no}"
    else:
        href = _escape(f"/{ref.board}/thread/{thread}#p{ref.post_no}")
    return f'<a href="{href}" class="quotelink">{label}</a>'


def render_comment(
    text: str,
    *,
    board: str,
    thread_no: int,
    targets: Mapping[QuoteRef, int],
    known_boards: Container[str],
) -> str:
    """Render a raw comment to 4chan-style ``com`` HTML.

    ``targets`` maps each quoted post that exists to its thread number; quotes missing from
    it are dead. ``thread_no`` is the thread the comment is posted in (0 if it starts a new
    thread whose number is not yet known, so every live quote gets a full thread URL).
    ``known_boards`` holds board URIs that exist (for ``>>>/b/`` links).
    """
    tokens = _tokenize(_normalise(text), board, known_boards)
    _pair(tokens)
    emitter = _Emitter()
    for token in tokens:
        kind = token.kind
        if kind == _TEXT:
            emitter.content(_escape(token.raw))
        elif kind == _NEWLINE:
            emitter.close(_GREEN)
            emitter.out.append("<br>")  # not content: pending spoilers reopen after it
        elif kind == _CODE:
            emitter.close(_GREEN)
            body = _escape(token.raw).replace("\n", "<br>")
            emitter.content(f'<pre class="prettyprint">{body}</pre>')
        elif kind == _GREEN:
            emitter.open(_GREEN)
        elif kind == _QUOTE:
            emitter.content(_quote_html(token, thread_no, targets))
        elif kind == _BOARD:
            label = _escape(token.raw)
            board_uri = token.raw[4:-1]
            if board_uri in known_boards:
                label = f'<a href="/{board_uri}/" class="quotelink">{label}</a>'
            emitter.content(label)
        elif kind == _URL:
            url = _escape(token.raw)
            emitter.content(
                f'<a href="{url}" rel="nofollow ugc noopener" target="_blank">{url}</a>'
            )
        elif token.role == _LITERAL:
            emitter.content(_escape(token.raw))
        else:
            element = _SPOILER_OPEN if kind == _SPOILER_CLOSE else kind
            if token.role == _OPEN:
                emitter.open(element)
            else:
                emitter.close(element)
    return emitter.finish()


def find_quotes(text: str, *, board: str) -> list[QuoteRef]:
    """Every post quoted by ``>>123`` (same board) and ``>>>/b/123`` (cross-board).

    In order of first appearance, without duplicates; quotes inside ``[code]`` blocks do not
    count. Used to resolve quotes before rendering and to build backlinks.
    """
    tokens = _tokenize(_normalise(text), board, ())
    refs = dict.fromkeys(token.ref for token in tokens if token.ref is not None)
    return list(refs)


# Catalogs, archives, feeds and 4chan's semantic URLs ask for the same few hundred excerpts
# on every render, and tokenising a comment costs ~30 µs: a catalog of 150 threads spent
# most of its time here. Keyed by the text itself, so an edited comment is a new entry.
@functools.lru_cache(maxsize=2048)
def comment_excerpt(text: str, limit: int = 120) -> str:
    """Plain-text summary of a comment for catalog excerpts and page titles.

    Markup markers are dropped, ``[code]`` keeps its content, a spoiler's content becomes
    ``[spoiler]``; whitespace is collapsed and the result cut to at most ``limit``
    characters, ending in "…" when cut. The result is NOT escaped: templates escape it.
    """
    if limit <= 0:
        return ""
    tokens = _tokenize(_normalise(text), "", ())
    _pair(tokens)
    parts: list[str] = []
    spoiler_depth = 0
    for token in tokens:
        if token.role == _OPEN and token.kind == _SPOILER_OPEN:
            if not spoiler_depth:
                parts.append("[spoiler]")
            spoiler_depth += 1
        elif token.role == _CLOSE and token.kind == _SPOILER_CLOSE:
            spoiler_depth -= 1
        elif spoiler_depth or token.role != _LITERAL:
            continue  # hidden by a spoiler, or a bold/italic marker
        elif token.kind == _CODE:
            parts.append(f" {token.raw} ")
        else:
            parts.append(token.raw)  # greentext tokens are empty; newlines collapse below
    plain = " ".join("".join(parts).split())
    if len(plain) <= limit:
        return plain
    return plain[: limit - 1].rstrip() + "…"

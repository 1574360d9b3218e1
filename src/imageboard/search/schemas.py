"""Read models of the search context, its cursor, and the contract of ``GET /api/v1/search``."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from imageboard.core.errors import InvalidInput
from imageboard.core.numbers import is_decimal

MAX_CURSOR_LENGTH = 64
_CURSOR_PREFIX = "s1:"


@dataclass(frozen=True, slots=True)
class SearchHitView:
    """A matching post. ``subject_html`` and ``snippet_html`` are escaped HTML whose only
    tags are ``<mark>``/``</mark>`` around the matched words (see ``search.highlight``)."""

    board: str
    thread_no: int
    no: int
    is_op: bool
    created_at: datetime
    subject: str
    subject_html: str
    snippet_html: str

    @property
    def url(self) -> str:
        return f"/{self.board}/thread/{self.thread_no}#p{self.no}"


@dataclass(frozen=True, slots=True)
class SearchResultsView:
    query: str
    board: str | None
    hits: list[SearchHitView]
    next_cursor: str | None
    # False when the query had no word to look for (only punctuation or exclusions).
    searchable: bool = True


def encode_cursor(post_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{post_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    problem = InvalidInput(
        "This cursor is not valid: pass the next_cursor of the previous page of the same search.",
        field="cursor",
        code="invalid_cursor",
    )
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise problem
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise problem from None
    number = raw.removeprefix(_CURSOR_PREFIX)
    if not raw.startswith(_CURSOR_PREFIX) or not is_decimal(number) or not 0 < len(number) <= 19:
        raise problem
    return int(number)


# --- /api/v1/search -------------------------------------------------------------------------


class SearchHit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    board: str = Field(examples=["b"])
    thread_no: int
    no: int
    is_op: bool
    created_at: datetime
    subject: str = Field(description="The subject as posted (plain text).")
    subject_html: str = Field(
        description="The subject, HTML-escaped, with the matched words in `<mark>`…`</mark>` (no other tags)."
    )
    snippet_html: str = Field(
        description="The part of the comment around the matches, HTML-escaped, the matched words in "
        "`<mark>`…`</mark>` (no other tags); fragments are joined by `…`."
    )
    url: str = Field(description="The post on the site's HTML pages.")
    api_url: str = Field(description="The post's thread in this API.")


class SearchPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[SearchHit] = Field(description="Matching posts, newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


def search_page_out(results: SearchResultsView, *, api_prefix: str) -> SearchPage:
    return SearchPage(
        items=[
            SearchHit(
                board=hit.board,
                thread_no=hit.thread_no,
                no=hit.no,
                is_op=hit.is_op,
                created_at=hit.created_at,
                subject=hit.subject,
                subject_html=hit.subject_html,
                snippet_html=hit.snippet_html,
                url=hit.url,
                api_url=f"{api_prefix}/boards/{hit.board}/threads/{hit.thread_no}",
            )
            for hit in results.hits
        ],
        next_cursor=results.next_cursor,
    )

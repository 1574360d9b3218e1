"""Sample data for the component gallery (development mode only): every macro rendered
with realistic, hostile-looking content, the way Storybook stories exercise components."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from imageboard.boards import (
    Backlink,
    BoardPage,
    BoardSummary,
    BoardView,
    CatalogEntry,
    PostView,
    ThreadState,
    ThreadView,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _board() -> BoardView:
    return BoardView(
        uri="b",
        title="Random",
        description="Anything goes.",
        work_safe=False,
        threads_per_page=15,
        pages=10,
        bump_limit=300,
        image_limit=150,
        max_comment_length=2000,
        forced_anonymous=False,
        default_name="Anonymous",
        poster_ids=True,
        text_only=False,
        require_subject=False,
        require_file=True,
        country_flags=True,
        cyclic_limit=250,
        archive_enabled=True,
        archive_days=7,
        max_files=4,
        max_file_mb=8,
        allowed_media="jpg,png,gif,webp,webm,mp4",
        unique_files=False,
        last_post_no=1234,
        created_at=NOW,
        updated_at=NOW,
    )


def _post(no: int, *, op: bool = False, **overrides: Any) -> PostView:
    values: dict[str, Any] = {
        "board": "b",
        "thread_no": 1000,
        "no": no,
        "is_op": op,
        "created_at": NOW + timedelta(minutes=no - 1000),
        "name": "Anonymous",
        "tripcode": None,
        "capcode": None,
        "subject": "",
        "comment": "",
        "comment_html": "A plain post.",
        "poster_id": "Ab3+x.Yz",
        "country_code": None,
        "country_name": None,
        "sage": False,
        "edited_at": None,
    }
    values.update(overrides)
    return PostView(**values)


def samples() -> dict[str, Any]:
    board = _board()
    op = _post(
        1000,
        op=True,
        subject="Component gallery <b>not bold</b>",
        name="kot",
        tripcode="!Ep8pui8Vw2",
        comment_html='<span class="quote">&gt;greentext</span><br>Some <b>bold</b>, <i>italic</i> and '
        '<s>spoiler</s>.<br><pre class="prettyprint">code()</pre>',
        country_code="DE",
        country_name="Germany",
        backlinks=[Backlink("b", 1000, 1001), Backlink("g", 77, 78)],
    )
    replies = [
        _post(1001, comment_html='<a href="#p1000" class="quotelink">&gt;&gt;1000</a><br>Agreed.'),
        _post(
            1002, name="Admin", capcode="admin", comment_html='<span class="deadlink">&gt;&gt;999</span>', edited_at=NOW
        ),
        _post(1003, comment_html="日本語 · עברית · 😀 — long words: " + "a" * 120),
    ]
    state = ThreadState(
        board="b",
        no=1000,
        subject=op.subject,
        created_at=NOW,
        bumped_at=NOW,
        updated_at=NOW,
        reply_count=42,
        file_count=7,
        sticky=True,
        locked=True,
        cyclic=False,
        archived=False,
        archived_at=None,
    )
    thread = ThreadView(
        board=board, state=state, op=op, replies=replies, omitted_posts=38, omitted_files=6, unique_posters=9
    )
    return {
        "board": board,
        "thread": thread,
        "entry": CatalogEntry(state=state, op=op, excerpt="greentext Some bold, italic and [spoiler]. code()"),
        "summary": BoardSummary(board=board, posts_last_day=321, last_post_at=NOW),
        "page": BoardPage(board=board, threads=[thread], page=2, page_count=10),
    }

"""Our read models in the shapes of 4chan's read-only API (github.com/4chan/4chan-API).

Field names, types and presence rules follow its pages Boards, Catalog, Threads, Threadlist,
Archive and Indexes:

* flags (``sticky``, ``closed``, ``archived``, ``spoiler``, ``filedeleted``, ``bumplimit``,
  ``imagelimit``) are ``1`` or absent;
* optional strings (``trip``, ``id``, ``capcode``, ``sub``, ``com``) are absent when empty;
* ``name``, ``sub`` and ``filename`` are HTML-escaped, as 4chan stores and emits them (its
  clients unescape them); ``com`` is the comment HTML our renderer makes in 4chan's markup;
* ``now`` is ``MM/DD/YY(Day)HH:MM:SS`` in 4chan's US Eastern time, ``time`` UNIX seconds;
* a post holds one file on 4chan: the FIRST of our ``files`` is mapped to ``tim``,
  ``filename``, ``ext``, ``fsize``, ``md5``, ``w``, ``h``, ``tn_w``, ``tn_h``; when that file
  was deleted the post carries only ``filedeleted: 1``. All files are in our own v1 API.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from imageboard.boards import BoardPage, BoardView, CatalogEntry, PostView, ThreadState, ThreadView, comment_excerpt
from imageboard.core.clock import as_utc

Json = dict[str, Any]

try:
    EASTERN: ZoneInfo | None = ZoneInfo("America/New_York")
except ZoneInfoNotFoundError:  # pragma: no cover - a system without tz data
    EASTERN = None

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_SLUG_DROP = re.compile(r"['’`]")
_SLUG_SPLIT = re.compile(r"[^a-z0-9]+")
SEMANTIC_URL_MAX = 50


@dataclass(frozen=True, slots=True)
class FourchanLimits:
    """Limits that boards.json announces and that do not live on the board itself."""

    max_filesize: int = 4 * 1024 * 1024  # bytes, as 4chan's boards.json really gives them
    max_webm_filesize: int = 3 * 1024 * 1024
    max_webm_duration: int = 120  # seconds
    cooldown_threads: int = 600  # seconds between new threads
    cooldown_replies: int = 60
    cooldown_images: int = 60
    spoilers: bool = True
    code_tags: bool = True  # our markup renders [code] on every board


def unix(moment: datetime) -> int:
    return int(as_utc(moment).timestamp())


def now_string(moment: datetime) -> str:
    """4chan's ``now``: ``12/31/18(Mon)17:05:48`` in US Eastern time."""
    local = as_utc(moment).astimezone(EASTERN) if EASTERN else as_utc(moment)
    return f"{local:%m/%d/%y}({_DAYS[local.weekday()]}){local:%H:%M:%S}"


def escape(text: str) -> str:
    """PHP's htmlspecialchars(ENT_QUOTES), which 4chan applies to names, subjects, filenames."""
    return html.escape(text, quote=True).replace("&#x27;", "&#039;")


def semantic_url(subject: str, comment: str) -> str:
    """The thread's URL slug, made as 4chan makes it: the subject (else the comment) as ASCII,
    cut to 50 characters without a partial last word, then lowercase words joined by hyphens
    ("Let's start a new thread since…" -> "lets-start-a-new-thread-since-the-previous-one")."""
    source = subject.strip() or comment_excerpt(comment, 200)
    text = unicodedata.normalize("NFKD", source).encode("ascii", "ignore").decode("ascii").lower()
    text = " ".join(text.split())
    if len(text) > SEMANTIC_URL_MAX:
        cut = text[:SEMANTIC_URL_MAX]
        if text[SEMANTIC_URL_MAX].isalnum() and " " in cut:
            cut = cut.rsplit(" ", 1)[0]
        text = cut
    return _SLUG_SPLIT.sub("-", _SLUG_DROP.sub("", text)).strip("-")


def post_json(post: PostView, board: BoardView) -> Json:
    """A post as 4chan gives it, without the opening post's thread fields."""
    data: Json = {"no": post.no, "resto": 0 if post.is_op else post.thread_no}
    data["now"] = now_string(post.created_at)
    data["time"] = unix(post.created_at)
    data["name"] = escape(post.name)
    if post.tripcode:
        data["trip"] = post.tripcode
    if post.poster_id:
        data["id"] = post.poster_id
    if post.capcode:
        data["capcode"] = post.capcode
    if post.country_code:
        data["country"] = post.country_code
        data["country_name"] = post.country_name or post.country_code
    elif board.country_flags:
        data["country"] = "XX"
        data["country_name"] = "Unknown"
    if post.is_op and post.subject:
        data["sub"] = escape(post.subject)
    if post.comment_html:
        data["com"] = post.comment_html
    if post.files:
        first = post.files[0]
        if first.deleted:
            data["filedeleted"] = 1
        else:
            # 4chan clients load the thumbnail from {tim}s.jpg; where there is none (audio, a
            # file that could not be thumbnailed) its size is 0x0, as 4chan gives for such files.
            has_thumb = first.spoiler or first.thumb_url.endswith(f"/{first.tim}s.jpg")
            data.update(
                tim=first.tim,
                filename=escape(first.filename),
                ext=first.ext,
                fsize=first.size,
                md5=first.md5_base64,
                w=first.width,
                h=first.height,
                tn_w=first.thumb_width if has_thumb else 0,
                tn_h=first.thumb_height if has_thumb else 0,
            )
            if first.spoiler:
                data["spoiler"] = 1
                if board.custom_spoiler:  # the board's one custom spoiler image (4chan: 1-10)
                    data["custom_spoiler"] = 1
    return data


def op_json(
    op: PostView,
    state: ThreadState,
    board: BoardView,
    *,
    images: int,
    unique_ips: int | None = None,
    shown: Sequence[PostView] | None = None,
    omitted_posts: int | None = None,
) -> Json:
    """The opening post with the thread's fields. ``shown`` (index and catalog) are the
    previewed replies: with them come ``omitted_posts`` and ``omitted_images``."""
    data = post_json(op, board)
    if state.sticky:
        data["sticky"] = 1
    if state.locked or state.archived:
        data["closed"] = 1
    if state.archived:
        data["archived"] = 1
        data["archived_on"] = unix(state.archived_at or state.updated_at)
    data["replies"] = state.reply_count
    data["images"] = images
    if state.reply_count >= board.bump_limit:
        data["bumplimit"] = 1
    if images >= board.image_limit:
        data["imagelimit"] = 1
    data["semantic_url"] = semantic_url(op.subject, op.comment)
    if unique_ips is not None:
        data["unique_ips"] = unique_ips
    if shown is not None:
        data["omitted_posts"] = (
            omitted_posts if omitted_posts is not None else max(0, state.reply_count - len(shown))
        )
        data["omitted_images"] = max(0, images - sum(p.live_file_count for p in shown))
    data["last_modified"] = unix(state.updated_at)
    return data


def thread_document(view: ThreadView) -> Json:
    """``/{board}/thread/{no}.json``: every post; the OP counts the files on the replies
    (deleted ones not), as index pages and the catalog do."""
    images = sum(reply.live_file_count for reply in view.replies)
    op = op_json(view.op, view.state, view.board, images=images, unique_ips=view.unique_posters)
    return {"posts": [op, *(post_json(reply, view.board) for reply in view.replies)]}


def _preview_op(view: ThreadView) -> Json:
    return op_json(
        view.op,
        view.state,
        view.board,
        images=view.state.file_count,
        shown=view.replies,
        omitted_posts=view.omitted_posts,
    )


def index_document(page: BoardPage) -> Json:
    """``/{board}/{page}.json``: each thread's OP and its preview replies."""
    return {
        "threads": [
            {"posts": [_preview_op(view), *(post_json(reply, page.board) for reply in view.replies)]}
            for view in page.threads
        ]
    }


def catalog_document(pages: Sequence[BoardPage]) -> list[Json]:
    """``/{board}/catalog.json``: per page, each OP with its ``last_replies``."""
    result: list[Json] = []
    for page in pages:
        threads = []
        for view in page.threads:
            entry = _preview_op(view)
            entry["last_replies"] = [post_json(reply, page.board) for reply in view.replies]
            threads.append(entry)
        result.append({"page": page.page, "threads": threads})
    return result


def threadlist_document(board: BoardView, entries: Sequence[CatalogEntry]) -> list[Json]:
    """``/{board}/threads.json``: thread numbers, last change and reply count, per page."""
    per_page = board.threads_per_page
    visible = list(entries)[: per_page * board.pages]
    pages = [visible[i : i + per_page] for i in range(0, len(visible), per_page)] or [[]]
    return [
        {
            "page": number,
            "threads": [
                {"no": e.state.no, "last_modified": unix(e.state.updated_at), "replies": e.state.reply_count}
                for e in chunk
            ],
        }
        for number, chunk in enumerate(pages, start=1)
    ]


def archive_document(entries: Iterable[CatalogEntry]) -> list[int]:
    """``/{board}/archive.json``: the numbers of archived threads."""
    return [entry.state.no for entry in entries]


def board_json(board: BoardView, limits: FourchanLimits) -> Json:
    data: Json = {
        "board": board.uri,
        "title": board.title,
        "ws_board": int(board.work_safe),
        "per_page": board.threads_per_page,
        "pages": board.pages,
        "max_filesize": limits.max_filesize,
        "max_webm_filesize": limits.max_webm_filesize,
        "max_comment_chars": board.max_comment_length,
        "max_webm_duration": limits.max_webm_duration,
        "bump_limit": board.bump_limit,
        "image_limit": board.image_limit,
        "cooldowns": {
            "threads": limits.cooldown_threads,
            "replies": limits.cooldown_replies,
            "images": limits.cooldown_images,
        },
        "meta_description": escape(board.description or f"/{board.uri}/ - {board.title}"),
    }
    flags = {
        "spoilers": limits.spoilers and not board.text_only,
        "is_archived": board.archive_enabled and board.archive_days > 0,
        "country_flags": board.country_flags,
        "user_ids": board.poster_ids,
        "code_tags": limits.code_tags,
        "text_only": board.text_only,
        "forced_anon": board.forced_anonymous,
        "require_subject": board.require_subject,
    }
    data.update({name: 1 for name, enabled in flags.items() if enabled})
    if board.custom_spoiler and not board.text_only:
        data["custom_spoilers"] = 1
    return data


def boards_document(boards: Iterable[BoardView], limits: Callable[[BoardView], FourchanLimits]) -> Json:
    """``/boards.json``."""
    return {"boards": [board_json(board, limits(board)) for board in boards]}

"""The 4chan-compatible read-only API at the site root, plus the RSS/Atom feeds.

A 4chan client or archiver works unmodified once its API base URL points at this site and
its media base URL at ``media_base_url`` (files live at ``{media}/{board}/{tim}{ext}``,
thumbnails at ``{media}/{board}/{tim}s.jpg``, as on i.4cdn.org).

These routes must be registered before the HTML routes: ``/boards.json`` would otherwise be
taken for a board called "boards.json".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from imageboard.api import fourchan_schemas as fmt
from imageboard.api.common import MAX_NO, READ, check_board, check_page, check_post_no, json_bytes, read_versioned
from imageboard.api.feeds import add_feed_routes
from imageboard.boards import BOARD_URI, BoardsService, BoardView
from imageboard.core.cache import PageCache

Limits = fmt.FourchanLimits | Callable[[BoardView], fmt.FourchanLimits]


def build_fourchan_router(
    boards: BoardsService,
    *,
    media_base_url: str,
    site_name: str,
    public_url: str,
    limits: Limits | None = None,
    cache: PageCache | None = None,
) -> APIRouter:
    """Routes of 4chan's read API (boards, indexes, catalog, thread list, archive, threads)
    and the per-board and per-thread RSS/Atom feeds.

    ``limits`` gives the file-size limits and cooldowns boards.json announces (one value for
    every board, or a function of the board); the rest comes from each board's settings.
    The JSON documents are kept in ``cache`` (the page cache) by the version of the board or
    thread they show, as the HTML pages are: every write that changes them touches it.
    """
    router = APIRouter(include_in_schema=False)
    board_limits = _limits_for(limits)

    def site_version() -> Awaitable[datetime | None]:
        return boards.version()

    def board_version(board: str) -> Callable[[], Awaitable[datetime | None]]:
        async def version() -> datetime | None:
            return await boards.version(board) if BOARD_URI.fullmatch(board) else None

        return version

    @router.api_route("/boards.json", methods=READ)
    async def boards_json(request: Request) -> Response:
        async def build() -> bytes:
            return json_bytes(fmt.boards_document(await boards.list_boards(), board_limits))

        return await read_versioned(request, cache, "4chan:boards", site_version, build)

    @router.api_route("/{board}/catalog.json", methods=READ)
    async def catalog_json(request: Request, board: str) -> Response:
        async def build() -> bytes:
            check_board(board)
            return json_bytes(fmt.catalog_document(await boards.board_pages(board)))

        return await read_versioned(request, cache, f"4chan:catalog:{board}", board_version(board), build)

    @router.api_route("/{board}/threads.json", methods=READ)
    async def threads_json(request: Request, board: str) -> Response:
        async def build() -> bytes:
            check_board(board)
            view, entries = await boards.catalog(board, "bump")
            return json_bytes(fmt.threadlist_document(view, entries))

        return await read_versioned(request, cache, f"4chan:threads:{board}", board_version(board), build)

    @router.api_route("/{board}/archive.json", methods=READ)
    async def archive_json(request: Request, board: str) -> Response:
        async def build() -> bytes:
            check_board(board)
            _view, entries = await boards.archive(board)
            return json_bytes(fmt.archive_document(entries))

        return await read_versioned(request, cache, f"4chan:archive:{board}", board_version(board), build)

    @router.api_route("/{board}/{page:int}.json", methods=READ)
    async def index_json(request: Request, board: str, page: int) -> Response:
        async def build() -> bytes:
            check_board(board)
            check_page(page)
            return json_bytes(fmt.index_document(await boards.board_page(board, page)))

        return await read_versioned(request, cache, f"4chan:index:{board}:{page}", board_version(board), build)

    @router.api_route("/{board}/thread/{no:int}.json", methods=READ)
    async def thread_json(request: Request, board: str, no: int) -> Response:
        async def build() -> bytes:
            check_board(board)
            check_post_no(no)
            return json_bytes(fmt.thread_document(await boards.thread(board, no)))

        async def version() -> datetime | None:
            return await boards.version(board, no) if 1 <= no <= MAX_NO else None

        return await read_versioned(request, cache, f"4chan:thread:{board}:{no}", version, build)

    add_feed_routes(router, boards, site_name=site_name, public_url=public_url, media_base_url=media_base_url)
    return router


def _limits_for(limits: Limits | None) -> Callable[[BoardView], fmt.FourchanLimits]:
    if limits is None or isinstance(limits, fmt.FourchanLimits):
        fixed = limits or fmt.FourchanLimits()
        return lambda _board: fixed
    return limits

"""The 4chan-compatible read-only API at the site root, plus the RSS/Atom feeds.

A 4chan client or archiver works unmodified once its API base URL points at this site and
its media base URL at ``media_base_url`` (files live at ``{media}/{board}/{tim}{ext}``,
thumbnails at ``{media}/{board}/{tim}s.jpg``, as on i.4cdn.org).

These routes must be registered before the HTML routes: ``/boards.json`` would otherwise be
taken for a board called "boards.json".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Request
from starlette.responses import Response

from imageboard.api import fourchan_schemas as fmt
from imageboard.api.common import READ, check_board, check_page, check_post_no, json_bytes, read
from imageboard.api.feeds import add_feed_routes
from imageboard.api.http_cache import newest
from imageboard.boards import BoardPage, BoardsService, BoardView
from imageboard.core.errors import NotFound

Limits = fmt.FourchanLimits | Callable[[BoardView], fmt.FourchanLimits]


def _page_modified(page: BoardPage) -> datetime:
    return newest([page.board.updated_at, *(view.state.updated_at for view in page.threads)])


def build_fourchan_router(
    boards: BoardsService,
    *,
    media_base_url: str,
    site_name: str,
    public_url: str,
    limits: Limits | None = None,
) -> APIRouter:
    """Routes of 4chan's read API (boards, indexes, catalog, thread list, archive, threads)
    and the per-board and per-thread RSS/Atom feeds.

    ``limits`` gives the file-size limits and cooldowns boards.json announces (one value for
    every board, or a function of the board); the rest comes from each board's settings.
    """
    router = APIRouter(include_in_schema=False)
    board_limits = _limits_for(limits)

    @router.api_route("/boards.json", methods=READ)
    async def boards_json(request: Request) -> Response:
        async def build() -> tuple[bytes, datetime]:
            views = await boards.list_boards()
            return json_bytes(fmt.boards_document(views, board_limits)), newest(b.updated_at for b in views)

        return await read(request, build)

    @router.api_route("/{board}/catalog.json", methods=READ)
    async def catalog_json(request: Request, board: str) -> Response:
        async def build() -> tuple[bytes, datetime]:
            check_board(board)
            pages = await _all_pages(boards, board)
            return json_bytes(fmt.catalog_document(pages)), newest(_page_modified(p) for p in pages)

        return await read(request, build)

    @router.api_route("/{board}/threads.json", methods=READ)
    async def threads_json(request: Request, board: str) -> Response:
        async def build() -> tuple[bytes, datetime]:
            check_board(board)
            view, entries = await boards.catalog(board, "bump")
            modified = newest([view.updated_at, *(e.state.updated_at for e in entries)])
            return json_bytes(fmt.threadlist_document(view, entries)), modified

        return await read(request, build)

    @router.api_route("/{board}/archive.json", methods=READ)
    async def archive_json(request: Request, board: str) -> Response:
        async def build() -> tuple[bytes, datetime]:
            check_board(board)
            view, entries = await boards.archive(board)
            modified = newest([view.updated_at, *(e.state.updated_at for e in entries)])
            return json_bytes(fmt.archive_document(entries)), modified

        return await read(request, build)

    @router.api_route("/{board}/{page:int}.json", methods=READ)
    async def index_json(request: Request, board: str, page: int) -> Response:
        async def build() -> tuple[bytes, datetime]:
            check_board(board)
            check_page(page)
            view = await boards.board_page(board, page)
            return json_bytes(fmt.index_document(view)), _page_modified(view)

        return await read(request, build)

    @router.api_route("/{board}/thread/{no:int}.json", methods=READ)
    async def thread_json(request: Request, board: str, no: int) -> Response:
        async def build() -> tuple[bytes, datetime]:
            check_board(board)
            check_post_no(no)
            view = await boards.thread(board, no)
            modified = newest([view.state.updated_at, *(p.edited_at for p in view.posts)])
            return json_bytes(fmt.thread_document(view)), modified

        return await read(request, build)

    add_feed_routes(router, boards, site_name=site_name, public_url=public_url, media_base_url=media_base_url)
    return router


def _limits_for(limits: Limits | None) -> Callable[[BoardView], fmt.FourchanLimits]:
    if limits is None or isinstance(limits, fmt.FourchanLimits):
        fixed = limits or fmt.FourchanLimits()
        return lambda _board: fixed
    return limits


async def _all_pages(boards: BoardsService, uri: str) -> list[BoardPage]:
    """Every index page with its preview replies; a thread already seen on an earlier page
    (the board moved between two reads) is not repeated."""
    first = await boards.board_page(uri, 1)
    pages = [first]
    seen = {view.state.no for view in first.threads}
    for number in range(2, first.page_count + 1):
        try:
            page = await boards.board_page(uri, number)
        except NotFound:  # the board shrank while we read it
            break
        fresh = [view for view in page.threads if view.state.no not in seen]
        seen.update(view.state.no for view in fresh)
        pages.append(BoardPage(board=page.board, threads=fresh, page=page.page, page_count=page.page_count))
    return pages

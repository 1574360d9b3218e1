"""The search page, ``GET /search`` (HTML; the JSON API is ``GET /api/v1/search``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from imageboard.core.errors import InvalidInput
from imageboard.search.query import MAX_QUERY_LENGTH
from imageboard.search.service import SearchService
from imageboard.web.pages import PageRenderer

TEMPLATE = "pages/search.html"
PAGE_SIZE = 20


def build_search_router(search: SearchService, pages: PageRenderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/search")
    async def search_page(
        request: Request,
        q: str | None = None,
        board: Annotated[str, Query(max_length=64)] = "",
        cursor: Annotated[str | None, Query(max_length=128)] = None,
    ) -> Response:
        """Without ``q``: the search form. A blank or unusable query: the form again with what
        is wrong (400). Otherwise the matching posts, newest first, a page at a time."""
        context: dict[str, Any] = {
            "q": q or "",
            "board": board,
            "max_length": MAX_QUERY_LENGTH,
            "results": None,
            "error": None,
            "error_code": None,
        }
        if q is None:
            return await pages.render(request, TEMPLATE, **context)
        try:
            results = await search.search(q, board=board or None, cursor=cursor, limit=PAGE_SIZE)
        except InvalidInput as exc:
            return await pages.render(
                request, TEMPLATE, status_code=400, **{**context, "error": exc.message, "error_code": exc.code}
            )
        return await pages.render(request, TEMPLATE, **{**context, "results": results})

    return router

"""Rendering pages: the context every page shares, and errors as pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from imageboard.boards import BoardsService
from imageboard.core.i18n import current_language

THEMES = ("auto", "light", "dark")
THEME_COOKIE = "theme"


@dataclass(frozen=True, slots=True)
class SiteInfo:
    name: str
    description: str


class PageRenderer:
    def __init__(self, env: Environment, boards: BoardsService, site: SiteInfo, *, dev: bool) -> None:
        self.env = env
        self.boards = boards
        self.site = site
        self.dev = dev

    async def render(
        self, request: Request, template: str, *, status_code: int = 200, **context: Any
    ) -> HTMLResponse:
        body = self.env.get_template(template).render(
            site=self.site,
            nav_boards=await self.boards.list_boards(),
            theme=_theme(request),
            lang=current_language(),
            dev=self.dev,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(body, status_code=status_code)


def _theme(request: Request) -> str:
    chosen = request.cookies.get(THEME_COOKIE, "auto")
    return chosen if chosen in THEMES else "auto"

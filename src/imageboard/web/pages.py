"""Rendering pages: the context every page shares, and errors as pages."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from starlette.requests import Request
from starlette.responses import HTMLResponse

from imageboard.accounts import SessionInfo
from imageboard.accounts.routes import current_session
from imageboard.boards import BoardsService
from imageboard.core.errors import ServiceUnavailable
from imageboard.core.i18n import current_language
from imageboard.web.fragments import PostFragments

THEMES = ("auto", "light", "dark")
THEME_COOKIE = "theme"
# The signed-in staff session of the page being rendered. Macros imported into a template do
# not see its context, so components (the post's mod menu) read it through `current_staff()`.
_STAFF: ContextVar[SessionInfo | None] = ContextVar("staff", default=None)


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
        env.globals.setdefault("current_staff", _STAFF.get)
        # Each post is rendered once per content and language (see web.fragments).
        self.fragments = PostFragments(_STAFF)
        env.globals["post_fragment"] = self.fragments

    async def render(self, request: Request, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        # Staff see moderation controls: such pages are private (web.caching never caches
        # a request that carries the session cookie); anonymous pages carry no visitor data.
        try:
            staff = await current_session(request) if hasattr(request.app.state, "accounts") else None
            nav_boards = await self.boards.list_boards()
        except ServiceUnavailable:
            if status_code < 500:
                raise
            # The error page of "the database is away" must not need the database itself.
            staff, nav_boards = None, []
        token = _STAFF.set(staff)
        try:
            body = self.env.get_template(template).render(
                staff=staff,
                site=self.site,
                nav_boards=nav_boards,
                theme=_theme(request),
                lang=current_language(),
                dev=self.dev,
                path=request.url.path,
                **context,
            )
        finally:
            _STAFF.reset(token)
        return HTMLResponse(body, status_code=status_code)


def _theme(request: Request) -> str:
    chosen = request.cookies.get(THEME_COOKIE, "auto")
    return chosen if chosen in THEMES else "auto"

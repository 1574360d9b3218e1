"""Rendering pages: the context every page shares, and errors as pages."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from imageboard.accounts import SessionInfo
from imageboard.accounts.routes import current_session
from imageboard.boards import BoardsService, PostView
from imageboard.core.errors import ServiceUnavailable
from imageboard.core.i18n import current_language
from imageboard.web.fragments import PostFragments

THEMES = ("auto", "light", "dark")
THEME_COOKIE = "theme"
# The signed-in staff session of the page being rendered. Macros imported into a template do
# not see its context, so components (the post's mod menu) read it through `current_staff()`.
_STAFF: ContextVar[SessionInfo | None] = ContextVar("staff", default=None)
# Where a spliced part goes in a rendered page (see PageRenderer.render): a comment no
# escaped text can contain, with a per-process nonce besides.
_SLOT = "<!--slot:{name}:" + secrets.token_hex(8) + "-->"


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

    async def render(
        self,
        request: Request,
        template: str,
        *,
        status_code: int = 200,
        spliced: Mapping[str, bytes] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """``template`` rendered with ``context``; each ``spliced`` part is UTF-8 HTML that the
        template shows as the variable of that name, put into the encoded page as it is
        rather than rendered through a string (a thread's 300 replies: web.fragments)."""
        # Staff see moderation controls: such pages are private (web.caching never caches
        # a request that carries the session cookie); anonymous pages carry no visitor data.
        try:
            staff = await self.staff_of(request)
            nav_boards = await self.boards.navigation_boards()
        except ServiceUnavailable:
            if status_code < 500:
                raise
            # The error page of "the database is away" must not need the database itself.
            staff, nav_boards = None, []
        # The slot is our own constant markup, never text from a request.
        slots = {name: Markup(_SLOT.format(name=name) if part else "") for name, part in (spliced or {}).items()}  # noqa: S704
        token = _STAFF.set(staff)
        try:
            page = self.env.get_template(template).render(
                staff=staff,
                site=self.site,
                nav_boards=nav_boards,
                nav_links=tuple((board.uri, board.title) for board in nav_boards),
                nav_path=_nav_path(request.url.path),
                theme=_theme(request),
                lang=current_language(),
                dev=self.dev,
                path=request.url.path,
                **context,
                **slots,
            )
        finally:
            _STAFF.reset(token)
        body = _splice(page, {name: part for name, part in spliced.items() if part}) if spliced else page
        return HTMLResponse(body, status_code=status_code)

    async def staff_of(self, request: Request) -> SessionInfo | None:
        """The signed-in staff member making the request, if any."""
        return await current_session(request) if hasattr(request.app.state, "accounts") else None

    async def thread_page(self, request: Request, uri: str, no: int, **context: Any) -> HTMLResponse:
        """A thread page. Anonymous readers get the posts joined from rendered fragments,
        looked up by stamp (web.fragments), so that only the posts not rendered yet in their
        present state are read in full; staff get every post read and rendered afresh."""
        if await self.staff_of(request) is not None:
            return await self.render(request, "pages/thread.html", thread=await self.boards.thread(uri, no), **context)
        outline = await self.boards.thread_outline(uri, no)
        post_body = self.env.get_template("components/post.html").module.post_body  # type: ignore[attr-defined]

        async def load(post_ids: Sequence[int]) -> list[tuple[int, int, PostView]]:
            return await self.boards.thread_posts(uri, no, post_ids)

        opening = await self.fragments.opening(post_body, uri, outline.op, outline.state, load)
        replies = await self.fragments.replies(post_body, uri, outline.replies, load)
        return await self.render(
            request, "pages/thread.html", thread=outline, op_html=opening, spliced={"replies_html": replies}, **context
        )


def _splice(page: str, parts: Mapping[str, bytes]) -> bytes:
    """``page`` as UTF-8, each part in place of its slot."""
    placed = sorted((page.find(_SLOT.format(name=name)), name) for name in parts)
    if placed and placed[0][0] < 0:
        raise RuntimeError(f"the page shows no {placed[0][1]} to splice into")
    pieces, start = [], 0
    for at, name in placed:
        pieces += [page[start:at].encode(), parts[name]]
        start = at + len(_SLOT.format(name=name))
    pieces.append(page[start:].encode())
    return b"".join(pieces)


def _nav_path(path: str) -> str:
    """The path as far as the site's menus tell pages apart (components/site.html): a board's
    index "/b/", any page under it "/b/*", else the path itself. The menus are kept per
    value (``kept``), so every thread of a board shares one."""
    first, slash, rest = path[1:].partition("/")
    return f"/{first}/*" if slash and rest else path


def _theme(request: Request) -> str:
    chosen = request.cookies.get(THEME_COOKIE, "auto")
    return chosen if chosen in THEMES else "auto"

"""HTML pages and the post/delete forms, in 4chan's URL layout."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, cast, get_args
from urllib.parse import quote, unquote

from fastapi import APIRouter, Query, Request
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match, Route
from starlette.types import Scope

from imageboard.antispam import HONEYPOT_FIELD, CaptchaAttempt
from imageboard.antispam.routes import set_grace_cookie
from imageboard.boards import BoardsService, CatalogSort
from imageboard.core.cache import PageCache
from imageboard.core.errors import InvalidInput, NotFound
from imageboard.core.http import client_ip, safe_local_url, wants_json
from imageboard.core.i18n import LANGUAGE_NAMES, available_languages
from imageboard.core.middleware import WROTE_COOKIE
from imageboard.core.numbers import is_decimal
from imageboard.media.uploads import chosen_files
from imageboard.posting import PostingService, Submission
from imageboard.web import gallery
from imageboard.web.caching import cached_page
from imageboard.web.pages import THEME_COOKIE, THEMES, PageRenderer

PASSWORD_COOKIE = "pwd"  # noqa: S105  (a cookie name)
LANGUAGE_COOKIE = "lang"
YEAR = 365 * 24 * 3600
MAX_FORM_FIELDS = 64
MAX_FORM_FILES = 16


def build_router(
    boards: BoardsService,
    pages: PageRenderer,
    cache: PageCache | None = None,
    *,
    posting: PostingService,
    read_your_writes: float = 10.0,
    staff_capcode: Callable[[Request, str, FormData], Awaitable[str | None]] | None = None,
) -> APIRouter:
    """``staff_capcode`` (from moderation) tells the capcode a signed-in staff member chose
    to post with, if any."""
    router = APIRouter(include_in_schema=False)
    capcode_of = staff_capcode or _no_capcode

    async def cached(
        request: Request, key: str, board: str | None, thread_no: int | None, render: Callable[[], Awaitable[Response]]
    ) -> Response:
        return await cached_page(request, cache, key, lambda: boards.version(board, thread_no), render)

    # The pages a reader asks for most are plain Starlette routes (``page_route``): FastAPI's
    # per-request parameter solving cost a sixth of a cached page's CPU.
    async def home(request: Request) -> Response:
        async def render() -> Response:
            return await pages.render(request, "pages/home.html", summaries=await boards.home())

        return await cached(request, "home", None, None, render)

    page_route(router, "/", home)

    @router.get("/help")
    async def help_page(request: Request) -> Response:
        return await pages.render(request, "pages/help.html")

    @router.get("/settings")
    async def settings_page(
        request: Request,
        theme: Annotated[str | None, Query(max_length=10)] = None,
        language: Annotated[str | None, Query(max_length=10)] = None,
    ) -> Response:
        if theme is None and language is None:
            return await pages.render(
                request,
                "pages/settings.html",
                themes=[(t, t.capitalize()) for t in THEMES],
                languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in available_languages()],
                current_theme=request.cookies.get(THEME_COOKIE, "auto"),
                current_language=request.cookies.get(LANGUAGE_COOKIE, ""),
            )
        if theme is not None and theme not in THEMES:
            raise InvalidInput(f"Unknown theme '{theme}': choose one of {', '.join(THEMES)}.", field="theme")
        if language and language not in available_languages():
            raise InvalidInput(f"Unknown language '{language}'.", field="language")
        response = RedirectResponse("/settings", status_code=303)
        if theme is not None:
            response.set_cookie(THEME_COOKIE, theme, max_age=YEAR, httponly=True, samesite="lax")
        if language is not None:
            response.set_cookie(LANGUAGE_COOKIE, language, max_age=YEAR, httponly=True, samesite="lax")
        return response

    @router.get("/dev/gallery")
    async def component_gallery(request: Request) -> Response:
        if not pages.dev:
            raise NotFound("The component gallery is only shown in development mode.")
        return await pages.render(request, "dev/gallery.html", samples=gallery.samples())

    @router.get("/all/")
    async def overboard(request: Request, page: Annotated[int, Query(ge=1, le=1000)] = 1) -> Response:
        async def render() -> Response:
            view = await boards.overboard(work_safe_only=False, page=page)
            return await pages.render(request, "pages/overboard.html", overboard=view, title="/all/", base_path="/all/")

        return await cached(request, f"all:{page}", None, None, render)

    @router.get("/sfw/")
    async def overboard_sfw(request: Request, page: Annotated[int, Query(ge=1, le=1000)] = 1) -> Response:
        async def render() -> Response:
            view = await boards.overboard(work_safe_only=True, page=page)
            return await pages.render(request, "pages/overboard.html", overboard=view, title="/sfw/", base_path="/sfw/")

        return await cached(request, f"sfw:{page}", None, None, render)

    @router.get("/{board}")
    async def board_without_slash(board: str) -> Response:
        await boards.get_board(board)
        return RedirectResponse(f"/{board}/", status_code=301)

    async def board_page(request: Request) -> Response:
        board: str = request.path_params["board"]
        page: int = request.path_params.get("page", 1)

        async def render() -> Response:
            view = await boards.board_page(board, page)
            return await pages.render(request, "pages/board.html", page=view, password="")

        return await cached(request, f"board:{board}:{page}", board, None, render)

    page_route(router, "/{board}/{page:int}", board_page)
    page_route(router, "/{board}/", board_page)

    async def catalog(request: Request) -> Response:
        board: str = request.path_params["board"]
        sort = _catalog_sort(request.query_params.get("sort", "bump"))

        async def render() -> Response:
            view, entries = await boards.catalog(board, sort)
            return await pages.render(request, "pages/catalog.html", board=view, entries=entries, sort=sort)

        return await cached(request, f"catalog:{board}:{sort}", board, None, render)

    page_route(router, "/{board}/catalog", catalog)

    async def archive(request: Request) -> Response:
        board: str = request.path_params["board"]

        async def render() -> Response:
            view, entries = await boards.archive(board)
            return await pages.render(request, "pages/archive.html", board=view, entries=entries)

        return await cached(request, f"archive:{board}", board, None, render)

    page_route(router, "/{board}/archive", archive)

    async def thread(request: Request) -> Response:
        board: str = request.path_params["board"]
        no: int = request.path_params["no"]
        quote = _positive_number(request, "quote")  # ?quote=N fills the reply form with >>N

        async def render() -> Response:
            return await pages.thread_page(request, board, no, password="", quote=f">>{quote}\n" if quote else "")

        return await cached(request, f"thread:{board}:{no}:{quote or ''}", board, no, render)

    page_route(router, "/{board}/thread/{no:int}", thread)
    page_route(router, "/{board}/thread/{no:int}/{slug}", thread)

    async def create_post(request: Request) -> Response:
        board: str = request.path_params["board"]
        form = await request.form(max_files=MAX_FORM_FILES, max_fields=MAX_FORM_FIELDS)
        password = _text(form.get("pwd")) or _password_cookie(request) or secrets.token_urlsafe(12)
        submitted = await posting.submit(
            Submission(
                board=board,
                thread_no=_thread_no(form.get("resto")),
                name=_text(form.get("name")),
                options=_text(form.get("email")),
                subject=_text(form.get("sub")),
                comment=_text(form.get("com")),
                password=password,
                ip=client_ip(request),
                uploads=chosen_files(form.getlist("upfile")),
                spoiler=_text(form.get("spoiler")) in {"on", "1", "true"},
                capcode=await capcode_of(request, board, form),
                captcha=CaptchaAttempt.from_form(form, request.cookies),
                honeypot=_text(form.get(HONEYPOT_FIELD)),
            )
        )
        created = submitted.created
        target = (
            f"/{created.board}/thread/{created.thread_no}#p{created.post_no}" if created.noko else f"/{created.board}/"
        )
        response: Response
        if wants_json(request):
            response = JSONResponse(
                {"board": created.board, "thread": created.thread_no, "no": created.post_no, "url": target}
                | ({"held": True} if created.held else {}),  # moderation: waiting for staff approval
                status_code=201,
            )
        elif created.held:  # moderation: the board holds posts for approval; say so
            opened = created.thread_no == created.post_no
            response = await pages.render(
                request,
                "pages/held.html",
                status_code=202,
                board=created.board,
                thread_no=0 if opened else created.thread_no,
            )
        else:
            response = RedirectResponse(target, status_code=303)
        # Percent-encoded: a cookie holds only Latin-1, a password may hold any character.
        response.set_cookie(PASSWORD_COOKIE, quote(password, safe=""), max_age=YEAR, httponly=True, samesite="lax")
        mark_written(response, read_your_writes)
        if submitted.verdict.grace_token:
            set_grace_cookie(response, request, submitted.verdict.grace_token, submitted.verdict.grace_seconds)
        return response

    # Every reply comes through here: a plain route, as the pages are (no FastAPI parameters).
    page_route(router, "/{board}/post", create_post, method="POST")

    @router.post("/{board}/delete")
    async def delete_posts(request: Request, board: str) -> Response:
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
        numbers = [_post_no(v) for v in form.getlist("delete")]
        if not numbers:
            raise InvalidInput("Tick the posts you want to delete first.", field="delete")
        password = _text(form.get("pwd")) or _password_cookie(request)
        file_only = _text(form.get("file_only")) in {"on", "1", "true"}
        deleted_thread = False
        for number in numbers:
            deleted_thread = (
                await boards.delete_own_post(board, number, password, file_only=file_only) or deleted_thread
            )
        if wants_json(request):
            return JSONResponse({"deleted": numbers, "file_only": file_only})
        back = safe_local_url(request.headers.get("referer", "").partition(request.url.netloc)[2] or None, f"/{board}/")
        return RedirectResponse(f"/{board}/" if deleted_thread else back, status_code=303)

    return router


def mark_written(response: Response, seconds: float) -> None:
    """Send this client's reads to the primary database for a moment (read-your-own-writes)."""
    if seconds > 0:
        response.set_cookie(
            WROTE_COOKIE.decode(),
            f"{time.time() + seconds:.0f}",
            max_age=int(seconds) + 1,
            httponly=True,
            samesite="lax",
        )


class PageRoute(Route):
    """A Starlette route that leaves itself in the scope, as FastAPI's routes do: the
    request metrics and access log label a request by its route's path template."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def page_route(
    router: APIRouter, path: str, endpoint: Callable[[Request], Awaitable[Response]], *, method: str = "GET"
) -> None:
    """A page (GET, and HEAD) or a form's target served by a plain Starlette route, without
    FastAPI's parameter handling: the endpoint reads its path parameters (already converted by
    the path's ``{name:int}``), query and form from the request, checking them itself with
    ``_positive_number`` and the like."""
    router.routes.append(PageRoute(path, endpoint, methods=[method], include_in_schema=False))


# Post numbers stay far below 10**16, and so within a 64-bit column.
_POST_NUMBER_DIGITS = 16


def _post_number(text: str) -> int | None:
    """The number a form or query gives for a post (ASCII digits, 16 at most), else None."""
    return int(text) if is_decimal(text) and len(text) <= _POST_NUMBER_DIGITS else None


def _positive_number(request: Request, name: str) -> int | None:
    """An optional query parameter that must be a whole number from 1, as a post number."""
    text = request.query_params.get(name)
    if text is None:
        return None
    number = _post_number(text)
    if number is None or number < 1:
        raise InvalidInput(f"Invalid value for '{name}': a post number (1 or more) is expected.", field=name)
    return number


def _catalog_sort(text: str) -> CatalogSort:
    for sort in get_args(CatalogSort):
        if text == sort:
            return cast(CatalogSort, sort)
    choices = ", ".join(get_args(CatalogSort))
    raise InvalidInput(f"Invalid value for 'sort': one of {choices} is expected.", field="sort")


async def _no_capcode(_request: Request, _board: str, _form: FormData) -> str | None:
    return None


def _password_cookie(request: Request) -> str:
    return unquote(request.cookies.get(PASSWORD_COOKIE, ""))


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _thread_no(value: object) -> int:
    text = _text(value).strip()
    if not text:
        return 0
    number = _post_number(text)
    if number is None:
        raise InvalidInput("resto must be a thread number (or 0 for a new thread).", field="resto")
    return number


def _post_no(value: object) -> int:
    text = _text(value).strip()
    number = _post_number(text)
    if number is None:
        raise NotFound(f"'{text[:20]}' is not a post number.", field="delete")
    return number

"""The composition root: builds the application for a given configuration."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from imageboard import __version__
from imageboard.accounts import AccountsService
from imageboard.accounts.routes import build_accounts_router
from imageboard.antispam import build_antispam, config_from_settings
from imageboard.antispam.middleware import ClientAddress, FloodGate, ReadRateLimit
from imageboard.antispam.routes import build_captcha_router
from imageboard.api import build_api_v1_mount, build_fourchan_router, build_swagger_router
from imageboard.boards import BoardsService
from imageboard.config import Settings
from imageboard.core.cache import MemoryPageCache, PageCache, RedisPageCache
from imageboard.core.clock import utcnow
from imageboard.core.db import Database
from imageboard.core.errors import DomainError
from imageboard.core.http import add_routes, index_routes, safe_local_url, wants_json
from imageboard.core.i18n import negotiate, set_language
from imageboard.core.middleware import BodySizeLimit, ReadYourWrites, SameOriginWrites, SecurityHeaders
from imageboard.events import EventSettings
from imageboard.events.routes import sse_gateway
from imageboard.events.runtime import EventsRuntime
from imageboard.media import MediaService, storage_from_settings
from imageboard.media.board_images import BoardImages
from imageboard.media.routes import build_media_router
from imageboard.media.uploads import SiteMediaLimits
from imageboard.moderation import ModerationService
from imageboard.moderation.routes import capcode_for, install_moderation
from imageboard.observability import install_observability
from imageboard.posting import PostingService
from imageboard.search import SearchService
from imageboard.search import tasks as search_tasks
from imageboard.search.routes import build_search_router
from imageboard.web.pages import PageRenderer, SiteInfo
from imageboard.web.routes import LANGUAGE_COOKIE, build_router
from imageboard.web.templating import make_environment

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "web" / "static"
MEDIA_PREFIX = "/media"


class LanguageSelector:
    """Sets the UI language for the request: a forced setting, the language cookie, or the
    browser's Accept-Language."""

    def __init__(self, app: ASGIApp, *, forced: str) -> None:
        self.app = app
        self.forced = forced

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers", []))
            cookie = _cookie(headers.get(b"cookie", b"").decode("latin-1"), LANGUAGE_COOKIE)
            set_language(negotiate(headers.get(b"accept-language", b"").decode("latin-1"), self.forced or cookie))
        await self.app(scope, receive, send)


def _cookie(header: str, name: str) -> str:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return ""


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    clock: Callable[[], datetime] = utcnow,
    events: EventSettings | None = None,
) -> FastAPI:
    """Build the site (the ``web`` or ``all`` role). ``database``, ``clock`` and ``events`` are
    given by tests; the server passes none."""
    db = database or Database(
        settings.effective_database_url,
        replica_url=settings.database_replica_url or None,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    events = events or EventSettings()
    runtime = EventsRuntime(settings, events, db=db, role="all" if events.role == "all" else "web")
    media = MediaService(
        db,
        storage_from_settings(settings),
        media_base_url=settings.media_base_url,
        workdir=settings.data_dir / "tmp",
        clock=clock,
        defer_video=events.video_processing == "worker",  # the media worker group finishes them
    )
    boards = BoardsService(
        db,
        secret=settings.secret,
        clock=clock,
        media=media,
        events=runtime.publisher,
        version_memo_seconds=settings.version_memo_seconds,
    )
    page_cache = make_page_cache(settings)
    accounts = AccountsService(db, issuer=settings.site_name, clock=clock)
    # Moderation: bans, warnings, word filters and the approval queue screen every new post.
    moderation = ModerationService(db, boards, accounts, clock=clock, events=runtime.publisher)
    boards.screen = moderation.screen
    # Moderation acts on files (delete, spoiler, file bans) and stores board images through
    # the media context; media refuses banned files before storing them.
    moderation.use_files(media)
    moderation.use_images(BoardImages(media))
    media.file_screen = moderation.screen_file
    # Search: a new post is indexed in its posting transaction (inline), or by the search
    # worker group from its post.created event (worker; the all role runs that group itself).
    search = SearchService(db, clock=clock)
    if settings.search_indexing == "inline":
        boards.indexer = search.index_post
    elif runtime.runs_worker_groups:
        search_tasks.register(runtime.registry, runtime)
    antispam = build_antispam(config_from_settings(settings), secret=settings.secret)
    posting = PostingService(boards, antispam=antispam, media=media, limits=site_media_limits(settings))
    env = make_environment()
    env.globals["captcha_widget"] = antispam.captcha_widget_for
    pages = PageRenderer(
        env,
        boards,
        SiteInfo(settings.site_name, settings.site_description),
        dev=settings.environment == "development",
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        antispam.log_startup()
        await runtime.start()
        # Scheduled work (archive pruning, address retention, media garbage collection) is
        # the worker's: periodic jobs that one worker claims per period (each context's tasks.py).
        try:
            yield
        finally:
            await runtime.stop(grace=5)
            await antispam.aclose()
            if page_cache is not None:
                await page_cache.close()
            if database is None:
                await db.dispose()
            await observability.shutdown()

    app = FastAPI(
        title=settings.site_name,
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.boards = boards
    app.state.accounts = accounts
    app.state.moderation = moderation
    app.state.antispam = antispam
    app.state.media = media
    app.state.posting = posting
    app.state.search = search
    app.state.events = runtime
    app.state.pages = pages

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        response = await _error(request, pages, exc.status, exc.code, exc.message, exc.field)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            response.headers["Retry-After"] = str(int(retry_after))
            response.headers["Cache-Control"] = "no-store"
        return response

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        message = "There is nothing at this address." if exc.status_code == 404 else str(exc.detail)
        return await _error(request, pages, exc.status_code, "http_error", message, None)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        first = exc.errors()[0] if exc.errors() else {}
        field = str(first.get("loc", ["", ""])[-1]) if first else None
        message = f"Invalid value for '{field}': {first.get('msg', 'invalid')}." if field else "Invalid request."
        return await _error(request, pages, 400, "invalid", message, field)

    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(ClientDisconnect, client_gone)

    # Fixed paths first: the board routes' "/{board}" would take any of them.
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_routes(app, build_media_router(media, prefix=MEDIA_PREFIX))
    add_routes(app, build_captcha_router(antispam))
    if runtime.hub is not None:  # the all role streams live updates itself
        add_routes(app, sse_gateway(runtime).router())
    # JSON documents before pages: /boards.json and /b/1.json must not be taken for HTML.
    add_routes(
        app,
        build_fourchan_router(
            boards,
            media_base_url=settings.media_base_url,
            site_name=settings.site_name,
            public_url=settings.public_url,
            cache=page_cache,
        ),
    )
    add_routes(app, build_swagger_router())
    app.router.routes.append(build_api_v1_mount(boards, posting=posting, search=search))
    add_routes(app, build_accounts_router(accounts, pages, secret=settings.secret))
    install_moderation(app, moderation, pages)
    add_routes(app, build_search_router(search, pages))
    add_routes(
        app,
        build_router(
            boards,
            pages,
            page_cache,
            posting=posting,
            staff_capcode=capcode_for,
            read_your_writes=settings.read_your_writes_seconds,
        ),
    )

    app.add_middleware(LanguageSelector, forced=settings.language)
    app.add_middleware(ReadYourWrites)
    app.add_middleware(SameOriginWrites)
    if antispam.enabled:  # off (fixed at start-up): these layers would only pass requests on
        app.add_middleware(ReadRateLimit, antispam=antispam)
        app.add_middleware(FloodGate, antispam=antispam)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(ClientAddress, trusted=antispam.trusted_proxies)
    app.add_middleware(SecurityHeaders)
    # Last: its request middleware wraps all of the above; its routes go first in the table.
    observability = install_observability(app, settings, database=db, boards=boards)
    index_routes(app)  # last: the table is complete
    return app


async def client_gone(_request: Request, _exc: Exception) -> Response:
    """The client hung up before its request body arrived (an abandoned upload): nobody will
    read an answer, and it is not the server's error. 499 is nginx's name for it."""
    return Response(status_code=499)


def site_media_limits(settings: Settings) -> SiteMediaLimits:
    return SiteMediaLimits(
        max_pixels=settings.max_image_pixels,
        max_dimension=settings.max_image_dimension,
        max_video_seconds=settings.max_video_seconds,
        max_gif_frames=settings.max_gif_frames,
    )


def make_page_cache(settings: Settings) -> PageCache | None:
    if settings.page_cache == "off":
        return None
    if settings.page_cache == "redis":
        if not settings.redis_url:
            raise ValueError("IMAGEBOARD_PAGE_CACHE=redis needs IMAGEBOARD_REDIS_URL")
        return RedisPageCache(settings.redis_url)
    return MemoryPageCache(max_bytes=settings.page_cache_bytes)


async def _error(
    request: Request, pages: PageRenderer, status: int, code: str, message: str, field: str | None
) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)
    referer = request.headers.get("referer", "")
    back = safe_local_url(referer.partition(request.url.netloc)[2] if request.url.netloc in referer else None)
    return await pages.render(
        request, "pages/error.html", status_code=status, status=status, message=message, back=back
    )

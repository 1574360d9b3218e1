"""The composition root: builds the application for a given configuration."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from imageboard import __version__
from imageboard.accounts import AccountsService
from imageboard.accounts.routes import build_accounts_router
from imageboard.boards import BoardsService
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.core.errors import DomainError
from imageboard.core.http import safe_local_url, wants_json
from imageboard.core.i18n import negotiate, set_language
from imageboard.core.middleware import BodySizeLimit, SameOriginWrites, SecurityHeaders
from imageboard.web.pages import PageRenderer, SiteInfo
from imageboard.web.routes import LANGUAGE_COOKIE, build_router
from imageboard.web.templating import make_environment

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "web" / "static"
MAINTENANCE_INTERVAL = 300.0


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


def create_app(settings: Settings, *, database: Database | None = None) -> FastAPI:
    db = database or Database(
        settings.effective_database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    boards = BoardsService(db, secret=settings.secret)
    accounts = AccountsService(db, issuer=settings.site_name)
    env = make_environment()
    pages = PageRenderer(
        env,
        boards,
        SiteInfo(settings.site_name, settings.site_description),
        dev=settings.environment == "development",
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        maintenance = asyncio.create_task(_maintenance(boards))
        try:
            yield
        finally:
            maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await maintenance
            if database is None:
                await db.dispose()

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
    app.state.pages = pages

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return await _error(request, pages, exc.status, exc.code, exc.message, exc.field)

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

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(build_accounts_router(accounts, pages, secret=settings.secret))
    app.include_router(build_router(boards, pages))

    app.add_middleware(LanguageSelector, forced=settings.language)
    app.add_middleware(SameOriginWrites)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


async def _error(
    request: Request, pages: PageRenderer, status: int, code: str, message: str, field: str | None
) -> Response:
    if wants_json(request):
        return JSONResponse({"error": {"code": code, "message": message, "field": field}}, status_code=status)
    referer = request.headers.get("referer", "")
    back = safe_local_url(referer.partition(request.url.netloc)[2] if request.url.netloc in referer else None)
    return await pages.render(request, "pages/error.html", status_code=status, status=status, message=message, back=back)


async def _maintenance(boards: BoardsService) -> None:
    while True:
        await asyncio.sleep(MAINTENANCE_INTERVAL)
        try:
            removed = await boards.prune_archives()
            if removed:
                log.info("pruned %d archived threads", removed)
        except Exception:
            log.exception("maintenance pass failed")

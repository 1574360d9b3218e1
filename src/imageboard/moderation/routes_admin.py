"""HTTP for running boards and the site: a board's settings and staff, the site's settings,
creating a board — the staff pages and the forms they post (CSRF-checked like every staff
action; see ``moderation.routes``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from imageboard.accounts import Permission
from imageboard.accounts.routes import check_form_token
from imageboard.boards import BoardSpec
from imageboard.core.errors import InvalidInput
from imageboard.moderation.errors import require
from imageboard.moderation.forms import done as _done
from imageboard.moderation.forms import flag as _flag
from imageboard.moderation.forms import integer as _int
from imageboard.moderation.forms import read_form as _form
from imageboard.moderation.forms import text as _text
from imageboard.moderation.service import ModerationService
from imageboard.moderation.staff_pages import signed_in_pages, viewer

if TYPE_CHECKING:
    from imageboard.web import PageRenderer


def build_admin_router(moderation: ModerationService, pages: PageRenderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    admin = moderation.admin
    sign_in_first = signed_in_pages(pages)

    @router.get("/staff/board/{board}")
    @sign_in_first
    async def board_settings_page(request: Request, board: str) -> Response:
        info = await viewer(request)
        settings = await admin.board_settings(info.actor, board)
        board_staff = (
            await admin.board_staff(info.actor, board) if info.actor.can(Permission.MANAGE_BOARD_STAFF, board) else []
        )
        return await pages.render(
            request, "pages/staff/board.html", me=info, settings=settings, board_staff=board_staff
        )

    @router.get("/staff/site")
    @sign_in_first
    async def site_page(request: Request) -> Response:
        info = await viewer(request)
        require(info.actor, Permission.MANAGE_USERS, None)
        return await pages.render(request, "pages/staff/site.html", me=info, site_settings=await admin.site_settings())

    @router.get("/staff/boards/new")
    @sign_in_first
    async def new_board_page(request: Request) -> Response:
        info = await viewer(request)
        return await pages.render(
            request, "pages/staff/new_board.html", me=info, site_settings=await admin.site_settings()
        )

    @router.post("/staff/board/{board}/settings")
    async def save_board(request: Request, board: str) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        values: dict[str, Any] = {}
        for name in ("title", "description", "default_name", "rules", "announcement"):
            if name in form:
                values[name] = _text(form, name)
        for name in (
            "threads_per_page", "pages", "bump_limit", "image_limit", "max_comment_length",
            "cyclic_limit", "archive_days", "ip_retention_days",
        ):  # fmt: skip
            if name in form:
                values[name] = _int(form, name)
        if "settings_form" in form:  # unticked checkboxes send nothing
            for name in (
                "work_safe", "forced_anonymous", "poster_ids", "text_only", "require_subject", "require_file",
                "country_flags", "archive_enabled", "hold_threads", "hold_links_files", "hold_new_posters",
                "modlog_show_names",
            ):  # fmt: skip
                values[name] = _flag(form, name)
        await admin.update_board(info.actor, board, values)
        return _done(request, form, f"/staff/board/{board}")

    @router.post("/staff/board/{board}/staff")
    async def save_board_staff(request: Request, board: str) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        await admin.set_board_staff(info.actor, board, _text(form, "username", limit=32), _text(form, "role", limit=20))
        return _done(request, form, f"/staff/board/{board}")

    @router.post("/staff/site")
    async def save_site(request: Request) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        await admin.update_site(
            info.actor,
            global_rules=_text(form, "global_rules"),
            board_creation=_text(form, "board_creation", limit=10),
            ip_retention_days=_text(form, "ip_retention_days", limit=10),
        )
        return _done(request, form, "/staff/site")

    @router.post("/staff/boards/new")
    async def create_board(request: Request) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        try:
            spec = BoardSpec(
                uri=_text(form, "uri", limit=40).strip(),
                title=_text(form, "title", limit=200),
                description=_text(form, "description", limit=1000),
                work_safe=_flag(form, "work_safe"),
                require_file=_flag(form, "require_file"),
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "uri"
            raise InvalidInput(f"{name}: {str(first['msg']).removeprefix('Value error, ')}", field=name) from None
        board = await admin.create_board(info.actor, spec)
        return _done(request, None, f"/staff/board/{board.uri}", board=board.uri)

    return router

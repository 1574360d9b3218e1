"""HTTP for moderation: the public report form, ban page, appeals and mod log; the staff
dashboard, post page, ban form and every staff action on posts, bans and filters —
server-rendered forms that work without JavaScript. Running boards and the site is in
``routes_admin``, a board's images in ``routes_board``.

Every staff action is a POST carrying the session's CSRF token (``check_form_token``): no
session is a 401, a missing or forged token a 403, a missing permission a 403 naming it.
HTML forms get a 303 back to the page they came from; JSON clients get ``{"ok": true}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, Response

from imageboard.accounts import Permission
from imageboard.accounts.routes import check_form_token, current_session
from imageboard.core.errors import InvalidInput, NotFound
from imageboard.core.http import add_routes, client_ip, wants_json
from imageboard.moderation.errors import Banned
from imageboard.moderation.forms import done as _done
from imageboard.moderation.forms import flag as _flag
from imageboard.moderation.forms import integer as _int
from imageboard.moderation.forms import read_form as _form
from imageboard.moderation.forms import text as _text
from imageboard.moderation.routes_admin import build_admin_router
from imageboard.moderation.routes_board import build_board_router
from imageboard.moderation.schemas import BanRequest, BanScope, DeleteScope
from imageboard.moderation.service import ModerationService
from imageboard.moderation.services.assets import DEFAULT_DISTANCE
from imageboard.moderation.staff_pages import signed_in_pages, viewer

if TYPE_CHECKING:
    from imageboard.web import PageRenderer

FLAG_ROUTES = {"sticky": "sticky", "lock": "locked", "cyclic": "cyclic"}
BAN_HOURS = (1, 24, 72, 168, 720, 0)


# --- form parsing ---------------------------------------------------------------------------


def _board_or_site(form: FormData) -> str | None:
    board = _text(form, "board", limit=32).strip()
    return board or None


def _ban_request(form: FormData) -> BanRequest:
    scope: BanScope = "site" if _text(form, "scope", limit=10) == "site" else "board"
    raw_range = _text(form, "range", limit=5).strip()
    try:
        prefix = int(raw_range) if raw_range else None
    except ValueError:
        raise InvalidInput("The range is a prefix length such as 24 or 64.", field="range") from None
    return BanRequest(
        reason=_text(form, "reason"),
        hours=_int(form, "hours", 0),
        scope=scope,
        prefix=prefix,
        public_mark=_flag(form, "public_mark"),
        mark_text=_text(form, "mark_text", limit=200),
    )


# --- the router -----------------------------------------------------------------------------


def build_moderation_router(moderation: ModerationService, pages: PageRenderer) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    bans, reports, actions, admin = moderation.bans, moderation.reports, moderation.actions, moderation.admin

    sign_in_first = signed_in_pages(pages)

    # --- public -----------------------------------------------------------------------------

    @router.get("/banned")
    async def banned_page(request: Request) -> Response:
        page = await bans.ban_page(client_ip(request))
        if wants_json(request):
            return JSONResponse(
                {
                    "bans": [
                        {
                            "id": b.id,
                            "board": b.board,
                            "reason": b.reason,
                            "created_at": b.created_at.isoformat(),
                            "expires_at": b.expires_at.isoformat() if b.expires_at else None,
                            "appeal": b.open_appeal.status if b.open_appeal else None,
                        }
                        for b in page.bans
                    ]
                }
            )
        return await pages.render(request, "pages/banned.html", page=page, notice="", sent=False)

    @router.post("/banned/appeal")
    async def appeal(request: Request) -> Response:
        form = await _form(request)
        await bans.appeal(client_ip(request), _int(form, "ban"), _text(form, "text"))
        if wants_json(request):
            return JSONResponse({"ok": True}, status_code=201)
        page = await bans.ban_page(client_ip(request))
        return await pages.render(request, "pages/banned.html", page=page, notice="", sent=True)

    # --- staff pages -----------------------------------------------------------------------

    @router.get("/staff")
    @sign_in_first
    async def dashboard(request: Request) -> Response:
        info = await viewer(request)
        return await pages.render(
            request, "pages/staff/dashboard.html", me=info, dashboard=await moderation.dashboard(info.actor)
        )

    @router.get("/staff/post/{board}/{no:int}")
    @sign_in_first
    async def post_page(request: Request, board: str, no: int) -> Response:
        info = await viewer(request)
        detail = await actions.detail(info.actor, board, no)
        boards = [b.uri for b in await admin.boards.list_boards()]
        return await pages.render(
            request, "pages/staff/post.html", me=info, detail=detail, boards=boards, ban_hours=BAN_HOURS
        )

    @router.get("/staff/bans")
    @sign_in_first
    async def bans_page(request: Request, everything: Annotated[bool, Query(alias="all")] = False) -> Response:
        info = await viewer(request)
        listed = await bans.list_bans(info.actor, active_only=not everything)
        return await pages.render(
            request, "pages/staff/bans.html", me=info, bans=listed, ban_hours=BAN_HOURS, everything=everything
        )

    @router.get("/staff/filters")
    @sign_in_first
    async def filters_page(request: Request) -> Response:
        info = await viewer(request)
        boards = [b.uri for b in await admin.boards.list_boards()]
        return await pages.render(
            request,
            "pages/staff/filters.html",
            me=info,
            filters=await admin.filters(info.actor),
            file_bans=await admin.file_bans(info.actor),
            boards=boards,
        )

    @router.get("/staff/modlog")
    @sign_in_first
    async def staff_modlog(request: Request, before: int | None = None) -> Response:
        info = await viewer(request)
        entries = await admin.staff_log(info.actor, before=before)
        return await pages.render(request, "pages/modlog.html", board=None, entries=entries, staff_view=True)

    # --- actions on posts -------------------------------------------------------------------

    @router.post("/staff/post/{board}/{no:int}/{action}")
    async def post_action(request: Request, board: str, no: int, action: str) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        actor = info.actor
        thread_url = f"/{board}/"
        result: dict[str, Any] = {}
        if action == "delete":
            gone = await actions.delete_post(actor, board, no, _text(form, "reason", limit=2000))
            if gone:
                return _done(request, None, thread_url, thread_deleted=True)
        elif action == "delete-file":
            await actions.delete_file(actor, board, no)
        elif action == "spoiler-file":
            await actions.spoiler_file(actor, board, no)
        elif action == "ban-file":
            outcome = await moderation.assets.ban_post_files(
                actor,
                board,
                no,
                scope="site" if _text(form, "scope", limit=10) == "site" else "board",
                match=_text(form, "match", limit=10) or "both",  # type: ignore[arg-type]
                distance=_int(form, "distance", DEFAULT_DISTANCE),
                reason=_text(form, "reason"),
                delete=_flag(form, "delete"),
            )
            result["file_bans"] = outcome.bans
        elif action == "delete-by-poster":
            scope: DeleteScope = _text(form, "scope", limit=10) or "thread"  # type: ignore[assignment]
            result["deleted"] = await actions.delete_by_poster(actor, board, no, scope)
            return _done(request, None, thread_url, **result)
        elif action == "edit":
            await actions.edit_post(actor, board, no, _text(form, "com"))
        elif action == "ban":
            view = await bans.ban_post(actor, board, no, _ban_request(form))
            result["ban"] = view.id
            if _flag(form, "delete"):
                gone = await actions.delete_post(actor, board, no)
                if gone:
                    return _done(request, None, thread_url, **result)
        elif action == "warn":
            await bans.warn_post(actor, board, no, _text(form, "reason"))
        elif action == "approve":
            await actions.approve(actor, board, no)
        elif action == "reject":
            await actions.reject(actor, board, no)
        else:
            raise NotFound(f"There is no staff action '{action[:40]}'.")
        return _done(request, form, f"/staff/post/{board}/{no}", **result)

    @router.post("/staff/thread/{board}/{no:int}/{action}")
    async def thread_action(request: Request, board: str, no: int, action: str) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        if action in FLAG_ROUTES:
            flag = FLAG_ROUTES[action]
            await actions.set_flag(info.actor, board, no, flag, _flag(form, "value"))  # type: ignore[arg-type]
            return _done(request, form, f"/{board}/thread/{no}")
        if action == "move":
            target = _text(form, "to", limit=32).strip()
            new_no = await actions.move_thread(info.actor, board, no, target)
            return _done(request, None, f"/{target}/thread/{new_no}", board=target, thread=new_no)
        raise NotFound(f"There is no staff action '{action[:40]}'.")

    # --- reports and appeals ------------------------------------------------------------------

    @router.post("/staff/reports/{report_id:int}/{action}")
    async def report_action(request: Request, report_id: int, action: str) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        if action == "dismiss":
            await reports.dismiss(info.actor, report_id)
        elif action == "ban-reporter":
            request_ = _ban_request(form)
            if not request_.reason.strip():
                request_ = BanRequest(reason="Abuse of the report system.", hours=request_.hours, scope=request_.scope)
            await reports.ban_reporter(info.actor, report_id, request_)
        else:
            raise NotFound(f"There is no staff action '{action[:40]}'.")
        return _done(request, form, "/staff")

    @router.post("/staff/appeals/{appeal_id:int}/{action}")
    async def appeal_action(request: Request, appeal_id: int, action: str) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        if action not in ("accept", "deny"):
            raise NotFound(f"There is no staff action '{action[:40]}'.")
        await bans.decide_appeal(info.actor, appeal_id, accept=action == "accept", response=_text(form, "response"))
        return _done(request, form, "/staff")

    # --- bans, filters, file bans --------------------------------------------------------------

    @router.post("/staff/bans")
    async def add_ban(request: Request) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        view = await bans.ban_address(
            info.actor, _board_or_site(form), _text(form, "network", limit=64), _ban_request(form)
        )
        return _done(request, form, "/staff/bans", ban=view.id)

    @router.post("/staff/bans/{ban_id:int}/unban")
    async def unban(request: Request, ban_id: int) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        await bans.unban(info.actor, ban_id, _text(form, "reason"))
        return _done(request, form, "/staff/bans")

    @router.post("/staff/filters")
    async def add_filter(request: Request) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        view = await admin.add_filter(
            info.actor,
            _board_or_site(form),
            _text(form, "pattern", limit=1000),
            is_regex=_flag(form, "is_regex"),
            action=_text(form, "action", limit=10),
            replacement=_text(form, "replacement", limit=1000),
            ban_hours=_int(form, "ban_hours", 0),
            reason=_text(form, "reason"),
        )
        return _done(request, form, "/staff/filters", filter=view.id)

    @router.post("/staff/filters/{filter_id:int}/delete")
    async def delete_filter(request: Request, filter_id: int) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        await admin.delete_filter(info.actor, filter_id)
        return _done(request, form, "/staff/filters")

    @router.post("/staff/filebans")
    async def add_file_ban(request: Request) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        view = await admin.add_file_ban(
            info.actor,
            _board_or_site(form),
            sha256=_text(form, "sha256", limit=100),
            perceptual=_text(form, "phash", limit=100),
            distance=_int(form, "distance", 0),
            reason=_text(form, "reason"),
        )
        return _done(request, form, "/staff/filters", file_ban=view.id)

    @router.post("/staff/filebans/{ban_id:int}/delete")
    async def delete_file_ban(request: Request, ban_id: int) -> Response:
        form = await _form(request)
        info = await check_form_token(request, form)
        await admin.delete_file_ban(info.actor, ban_id)
        return _done(request, form, "/staff/filters")

    # --- public pages under a board (last: "/{board}/modlog" would take "/staff/modlog") ----

    @router.get("/{board}/report/{no:int}")
    async def report_form(request: Request, board: str, no: int) -> Response:
        post, settings = await reports.report_form(board, no)
        site = await admin.site_settings()
        return await pages.render(
            request, "pages/report.html", post=post.view, settings=settings, site_rules=site.rule_list, sent=False
        )

    @router.post("/{board}/report")
    async def file_report(request: Request, board: str) -> Response:
        form = await _form(request)
        no = _int(form, "no")
        site = await admin.site_settings()
        await reports.file(board, no, _text(form, "reason", limit=20), client_ip(request), site)
        if wants_json(request):
            return JSONResponse({"ok": True}, status_code=201)
        post, settings = await reports.report_form(board, no)
        return await pages.render(
            request, "pages/report.html", post=post.view, settings=settings, site_rules=site.rule_list, sent=True
        )

    @router.get("/{board}/modlog")
    async def public_modlog(request: Request, board: str, before: int | None = None) -> Response:
        settings, entries = await admin.public_log(board, before=before)
        return await pages.render(request, "pages/modlog.html", board=settings.board, entries=entries, staff_view=False)

    return router


def install_moderation(app: FastAPI, moderation: ModerationService, pages: PageRenderer) -> None:
    """Add the moderation routes (before the board routes, whose ``/{board}`` would swallow
    ``/staff``) and show banned posters the ban page instead of a bare error."""
    add_routes(app, build_board_router(moderation, pages))
    add_routes(app, build_admin_router(moderation, pages))
    add_routes(app, build_moderation_router(moderation, pages))

    async def banned(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Banned)
        if wants_json(request):
            return JSONResponse({"error": {"code": exc.code, "message": exc.message, "field": None}}, status_code=403)
        page = await moderation.bans.ban_page(client_ip(request))
        return await pages.render(
            request, "pages/banned.html", status_code=403, page=page, notice=exc.message, sent=False
        )

    app.add_exception_handler(Banned, banned)


async def capcode_for(request: Request, board: str, form: FormData) -> str | None:
    """The capcode to post with: only when the form's "capcode" box is ticked by signed-in
    staff who may post with a capcode on this board (for the post handler)."""
    if not _flag(form, "capcode"):
        return None
    info = await current_session(request)
    if info is None:
        return None
    if not info.actor.can(Permission.POST_CAPCODE, board):
        return None
    return info.actor.capcode(board)

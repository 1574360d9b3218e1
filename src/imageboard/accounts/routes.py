"""Sign-in, two-factor, sign-out and the account page (server-rendered, no JavaScript needed)."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from imageboard.accounts.schemas import SessionInfo
from imageboard.accounts.service import AccountsService
from imageboard.core.errors import DomainError, Forbidden, InvalidInput

if TYPE_CHECKING:
    from imageboard.web import PageRenderer

SESSION_COOKIE = "session"
PENDING_COOKIE = "signin"
MAX_FIELD = 1024


class NotSignedIn(DomainError):
    status = 401
    code = "not_signed_in"


def _form_text(form: object, name: str) -> str:
    value = form.get(name) if hasattr(form, "get") else None
    if not isinstance(value, str):
        return ""
    if len(value) > MAX_FIELD:
        raise InvalidInput(f"The field '{name}' is too long.", field=name)
    return value


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="lax", secure=request.url.scheme == "https", path="/"
    )


async def current_session(request: Request) -> SessionInfo | None:
    """The verified staff session of this request, if any (cached on the request)."""
    if "staff_session" not in request.state._state:
        accounts: AccountsService = request.app.state.accounts
        info = await accounts.session(request.cookies.get(SESSION_COOKIE))
        request.state.staff_session = info if info is not None and info.verified else None
    session: SessionInfo | None = request.state.staff_session
    return session


async def require_session(request: Request) -> SessionInfo:
    info = await current_session(request)
    if info is None:
        raise NotSignedIn("Sign in first: this page is for staff.")
    return info


async def check_form_token(request: Request, form: object) -> SessionInfo:
    """A signed-in request whose form carries this session's CSRF token."""
    info = await require_session(request)
    accounts: AccountsService = request.app.state.accounts
    await accounts.check_csrf(request.cookies.get(SESSION_COOKIE), _form_text(form, "csrf_token"))
    return info


def build_accounts_router(accounts: AccountsService, pages: PageRenderer, *, secret: bytes) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    def sign(value: str) -> str:
        return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()

    @router.get("/login")
    async def login_page(request: Request) -> Response:
        return await pages.render(request, "pages/login.html", step="password", error="")

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        try:
            signed = await accounts.sign_in(_form_text(form, "username"), _form_text(form, "password"))
        except InvalidInput as exc:
            return await pages.render(request, "pages/login.html", status_code=400, step="password", error=exc.message)
        if signed.needs_second_factor:
            response: Response = RedirectResponse("/login/code", status_code=303)
            _set_cookie(request, response, PENDING_COOKIE, signed.token, 600)
            response.delete_cookie(SESSION_COOKIE, path="/")
            return response
        response = RedirectResponse("/account/2fa" if signed.must_enrol_second_factor else "/staff", status_code=303)
        _set_cookie(request, response, SESSION_COOKIE, signed.token, 14 * 24 * 3600)
        return response

    @router.get("/login/code")
    async def code_page(request: Request) -> Response:
        return await pages.render(request, "pages/login.html", step="code", error="")

    @router.post("/login/code")
    async def verify_code(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        pending = request.cookies.get(PENDING_COOKIE, "")
        try:
            token = await accounts.verify_second_factor(pending, _form_text(form, "code"))
        except (InvalidInput, Forbidden) as exc:
            return await pages.render(
                request, "pages/login.html", status_code=exc.status, step="code", error=exc.message
            )
        response = RedirectResponse("/staff", status_code=303)
        response.delete_cookie(PENDING_COOKIE, path="/")
        _set_cookie(request, response, SESSION_COOKIE, token, 14 * 24 * 3600)
        return response

    @router.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        await check_form_token(request, form)
        await accounts.sign_out(request.cookies.get(SESSION_COOKIE, ""))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.post("/logout/everywhere")
    async def logout_everywhere(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        info = await check_form_token(request, form)
        await accounts.sign_out_everywhere(info.actor.user_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/account")
    async def account_page(request: Request) -> Response:
        info = await require_session(request)
        return await pages.render(request, "pages/account.html", me=info, message="")

    @router.post("/account/password")
    async def change_password(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        info = await check_form_token(request, form)
        await accounts.change_password(
            info.actor.user_id, _form_text(form, "current_password"), _form_text(form, "new_password")
        )
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get("/account/2fa")
    async def totp_page(request: Request) -> Response:
        # Half-signed-in site staff land here to enrol; the session is unverified only when
        # a code is owed, so an enrolling user has a verified session without a factor.
        info = await require_session(request)
        totp_secret = accounts.new_totp_secret()
        return await pages.render(
            request,
            "pages/totp.html",
            me=info,
            totp_secret=totp_secret,
            signature=sign(totp_secret),
            uri=accounts.provisioning_uri(info.actor.username, totp_secret),
            error="",
        )

    @router.post("/account/2fa")
    async def enable_totp(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        info = await check_form_token(request, form)
        totp_secret = _form_text(form, "totp_secret")
        if not hmac.compare_digest(sign(totp_secret), _form_text(form, "signature")):
            raise Forbidden("The enrolment form was altered: reload the page and start again.", code="bad_signature")
        await accounts.enable_totp(info.actor.user_id, totp_secret, _form_text(form, "code"))
        await accounts.sign_out_everywhere(info.actor.user_id)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router

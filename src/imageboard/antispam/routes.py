"""Captcha endpoints.

* ``GET /captcha/challenge`` — JSON for the page's script: a proof-of-work challenge
  (``?kind=text`` for an image one), whether the visitor holds a usable grace pass, and
  whether their network is on the operator's list.
* ``GET /captcha/image?id=...`` — the picture of a text challenge issued as JSON.
* ``GET /captcha/image`` (also ``GET /captcha``) — for pages without JavaScript: issues a new
  text challenge, answers its picture and puts its id in the ``captcha_id`` cookie, so the
  (cached, same-for-everyone) post form needs only ``<img src="/captcha/image">`` and an
  answer field.
* ``POST /captcha/verify`` — check an answer on its own and get a grace pass cookie.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from imageboard.antispam.captcha import CHALLENGE_COOKIE, GRACE_COOKIE
from imageboard.antispam.heuristics import HONEYPOT_FIELD
from imageboard.antispam.schemas import CaptchaAttempt
from imageboard.antispam.service import AntispamService
from imageboard.core.errors import Forbidden, InvalidInput, NotFound
from imageboard.core.http import client_ip, safe_local_url, wants_json

NO_STORE = {"Cache-Control": "no-store, private"}


def set_grace_cookie(response: Response, request: Request, token: str, max_age: float) -> None:
    """Put a grace pass (``PostVerdict.grace_token``) in the visitor's cookie."""
    response.set_cookie(
        GRACE_COOKIE,
        token,
        max_age=int(max_age),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


class PostLike(Protocol):
    """What the API's post guard is handed (``boards.NewPost`` fits)."""

    @property
    def board(self) -> str: ...
    @property
    def thread_no(self) -> int: ...
    @property
    def comment(self) -> str: ...
    @property
    def ip(self) -> str | None: ...
    @property
    def has_files(self) -> bool: ...


def api_post_guard(
    antispam: AntispamService, get_board: Callable[[str], Awaitable[object]]
) -> Callable[[Request, PostLike], Awaitable[None]]:
    """A ``post_guard`` for the JSON API (``build_api_v1(..., post_guard=...)``): the same
    checks as the post form. The API has no hook after the write, so the comment is recorded
    for the duplicate check at once, and nothing is given back if the write then fails."""

    async def guard(request: Request, new: PostLike) -> None:
        board = await get_board(new.board)
        form: dict[str, object] = {}
        if request.headers.get("content-type", "").startswith(("multipart/form-data", "application/x-www-form")):
            form = dict(await request.form())  # parsed once per request; Starlette keeps it
        verdict = await antispam.check_post(
            ip=new.ip or client_ip(request) or "",
            board=new.board,
            is_thread=new.thread_no == 0,
            comment=new.comment,
            file_count=1 if new.has_files else 0,
            captcha=CaptchaAttempt.from_form(form, request.cookies),
            policy=antispam.policy_for(board),
            honeypot=str(form.get(HONEYPOT_FIELD) or ""),
        )
        if verdict.action == "hold":
            await antispam.release(verdict)
            raise Forbidden(
                "Posts from your network are held for staff approval, which this site cannot do yet. "
                "Post from another connection.",
                code="held_for_approval",
            )
        await antispam.record_post(verdict)

    return guard


def build_captcha_router(antispam: AntispamService) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/captcha/challenge")
    async def challenge(request: Request, kind: Literal["pow", "text"] = "pow") -> Response:
        ip = client_ip(request) or ""
        issued = await antispam.issue_challenge(ip, kind)
        body = issued.as_json()
        body["grace"] = await antispam.grace_left(request.cookies.get(GRACE_COOKIE, ""))
        body["listed"] = antispam.is_listed(ip)
        return JSONResponse(body, headers=NO_STORE)

    @router.get("/captcha")
    @router.get("/captcha/image")
    async def image(
        request: Request, challenge_id: Annotated[str | None, Query(alias="id", max_length=64)] = None
    ) -> Response:
        if challenge_id:
            png = await antispam.captcha.image(challenge_id)
            if png is None:
                raise NotFound("This captcha has expired or was used. Reload the page for a new one.")
            return Response(png, media_type="image/png", headers=NO_STORE)
        issued = await antispam.issue_challenge(client_ip(request) or "", "text")
        png = await antispam.captcha.image(issued.id)
        if png is None:  # expired between two lines: only with a zero TTL
            raise NotFound("The captcha could not be made. Reload the page.")
        response = Response(png, media_type="image/png", headers=NO_STORE)
        response.set_cookie(
            CHALLENGE_COOKIE,
            issued.id,
            max_age=int(issued.expires_in),
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @router.post("/captcha/verify")
    async def verify(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=8)
        attempt = CaptchaAttempt.from_form(form, request.cookies)
        if not (attempt.challenge_id and attempt.answer):
            raise InvalidInput(
                "Type the characters in the captcha picture (or let the page's script solve it) and send again.",
                field="captcha_answer",
                code="captcha_required",
            )
        token = await antispam.verify_captcha(attempt.challenge_id, attempt.answer)
        response: Response
        if wants_json(request):
            response = JSONResponse(
                {
                    "ok": True,
                    "grace_posts": antispam.config.grace_posts if token else 0,
                    "grace_seconds": int(antispam.config.grace_seconds) if token else 0,
                },
                headers=NO_STORE,
            )
        else:
            back = form.get("return")
            response = RedirectResponse(safe_local_url(back if isinstance(back, str) else None), status_code=303)
        if token:
            set_grace_cookie(response, request, token, antispam.config.grace_seconds)
        response.delete_cookie(CHALLENGE_COOKIE, path="/")
        return response

    return router

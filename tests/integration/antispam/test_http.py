"""The captcha endpoints and the middleware, over HTTP against an app assembled the way
create_app wires them (the router, ClientAddress, ReadRateLimit, DomainError handling)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from imageboard.antispam import (
    CHALLENGE_COOKIE,
    GRACE_COOKIE,
    AntispamConfig,
    AntispamService,
    SpamPolicy,
    solve_pow,
)
from imageboard.antispam.memory import MemoryChallengeStore, MemoryRateLimiter
from imageboard.antispam.middleware import ClientAddress, FloodGate, ReadRateLimit, Tarpit
from imageboard.antispam.routes import build_captcha_router
from imageboard.core.errors import DomainError, TooManyRequests

from .conftest import SECRET

EDGE = "10.0.0.2"
CONFIG = AntispamConfig(read_requests=4, read_window=60, pow_bits=4, trusted_proxies=("10.0.0.0/8",))


POLICY = SpamPolicy(replies_per_window=1, reply_window=60, warmup_seconds=0)


def make_app(service: AntispamService, tarpit: Tarpit | None = None) -> FastAPI:
    app = FastAPI()
    app.state.posts_reached = 0

    async def domain_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        body = {"error": {"code": exc.code, "message": exc.message, "field": exc.field}}
        return JSONResponse(body, status_code=exc.status, headers=headers)

    app.add_exception_handler(DomainError, domain_error)
    app.include_router(build_captcha_router(service))

    @app.get("/whoami")
    async def whoami(request: Request) -> Response:
        return PlainTextResponse(request.client.host if request.client else "")

    @app.get("/static/x.css")
    async def static() -> Response:
        return PlainTextResponse("body{}")

    @app.post("/b/post")
    async def create_post(request: Request) -> Response:
        app.state.posts_reached += 1
        form = await request.form()
        await service.check_post(
            ip=request.client.host if request.client else "",
            board="b",
            is_thread=False,
            comment=str(form.get("com", "")),
            file_count=0,
            captcha=None,
            policy=POLICY,
        )
        return PlainTextResponse("posted")

    quick = tarpit or Tarpit(delay=0)
    app.add_middleware(ReadRateLimit, antispam=service, tarpit=quick)
    app.add_middleware(FloodGate, antispam=service, tarpit=quick)
    app.add_middleware(ClientAddress, trusted=service.trusted_proxies)
    return app


def client_for(app: FastAPI, peer: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(peer, 40000)), base_url="http://testserver")


@pytest.fixture
def service() -> AntispamService:
    return AntispamService(CONFIG, limiter=MemoryRateLimiter(), challenges=MemoryChallengeStore(), secret=SECRET)


@pytest.fixture
async def client(service: AntispamService) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app(service), "203.0.113.7") as http:
        yield http


async def test_spoofed_forwarded_for_from_untrusted_peer_is_ignored(service: AntispamService) -> None:
    async with client_for(make_app(service), "203.0.113.7") as http:
        seen = await http.get("/whoami", headers={"X-Forwarded-For": "1.2.3.4", "X-Real-IP": "5.6.7.8"})
        assert seen.text == "203.0.113.7"
        # A new made-up address on every request does not escape the read limit.
        statuses = [
            (await http.get("/whoami", headers={"X-Forwarded-For": f"192.0.2.{n}"})).status_code for n in range(6)
        ]
    assert statuses == [200, 200, 200, 429, 429, 429]


async def test_forwarded_for_from_trusted_proxy_is_honoured(service: AntispamService) -> None:
    async with client_for(make_app(service), EDGE) as http:
        seen = await http.get("/whoami", headers={"X-Forwarded-For": "1.1.1.1, 198.51.100.20"})
        assert seen.text == "198.51.100.20"
        real = await http.get("/whoami", headers={"X-Real-IP": "198.51.100.21"})
        assert real.text == "198.51.100.21"
        # Each forwarded client has a limit of its own.
        for n in range(5):
            response = await http.get("/whoami", headers={"X-Forwarded-For": f"192.0.2.{n}"})
            assert response.status_code == 200


async def test_read_limit_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    for _ in range(4):
        assert (await client.get("/whoami")).status_code == 200
    page = await client.get("/whoami", headers={"Accept": "text/html"})
    assert page.status_code == 429
    assert page.headers["retry-after"] == "15"
    assert page.headers["content-type"].startswith("text/html")
    assert "Wait 15 seconds, then reload" in page.text
    api = await client.get("/whoami", headers={"Accept": "application/json"})
    assert api.status_code == 429 and api.json()["error"]["code"] == "read_limit"
    # Static files and posts are not read-limited.
    assert (await client.get("/static/x.css")).status_code == 200
    assert (await client.post("/b/post", data={"com": "hi"})).status_code == 200


async def test_flood_gate_refuses_at_the_door(service: AntispamService) -> None:
    app = make_app(service)
    async with client_for(app, "203.0.113.7") as http:
        assert (await http.post("/b/post", data={"com": "first"})).status_code == 200
        for n in range(CONFIG.gate_refusals):
            refused = await http.post("/b/post", data={"com": f"again {n}"}, headers={"Accept": "application/json"})
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "reply_limit"
        assert app.state.posts_reached == 1 + CONFIG.gate_refusals
        gated = await http.post("/b/post", data={"com": "and again"}, headers={"Accept": "application/json"})
        assert gated.status_code == 429 and gated.json()["error"]["code"] == "flood_gate"
        assert int(gated.headers["retry-after"]) >= 1 and "kept posting" in gated.json()["error"]["message"]
        assert app.state.posts_reached == 1 + CONFIG.gate_refusals  # the post never reached the app
    async with client_for(app, "203.0.113.8") as other:
        answer = await other.post("/b/post", data={"com": "a different person"})
        assert answer.status_code == 200, answer.text


async def test_refusals_are_answered_after_a_pause(service: AntispamService) -> None:
    tarpit = Tarpit(delay=0.3, max_waiting=1)
    async with client_for(make_app(service, tarpit), "203.0.113.7") as http:
        for _ in range(4):
            await http.get("/whoami")
        started = time.perf_counter()
        refused = await http.get("/whoami")
        assert refused.status_code == 429 and time.perf_counter() - started >= 0.28

        # Past max_waiting, refusals are answered at once.
        async def timed() -> tuple[int, float]:
            started = time.perf_counter()
            response = await http.get("/whoami")
            return response.status_code, time.perf_counter() - started

        answers = await asyncio.gather(timed(), timed())
        assert [status for status, _ in answers] == [429, 429]
        quick, slow = sorted(duration for _, duration in answers)
        assert quick < 0.2 <= slow
        assert tarpit.waiting == 0


async def test_off_switch_lets_every_read_through() -> None:
    service = AntispamService(
        replace(CONFIG, enabled=False), limiter=MemoryRateLimiter(), challenges=MemoryChallengeStore(), secret=SECRET
    )
    async with client_for(make_app(service), "203.0.113.7") as http:
        for _ in range(10):
            assert (await http.get("/whoami")).status_code == 200


async def test_pow_challenge_json_and_verify(client: httpx.AsyncClient) -> None:
    challenge = (await client.get("/captcha/challenge", headers={"Accept": "application/json"})).json()
    assert challenge["kind"] == "pow" and challenge["bits"] == 4 and challenge["grace"] is False
    assert challenge["listed"] is False and challenge["prefix"] == challenge["id"] + ":"
    nonce = solve_pow(challenge["id"], challenge["bits"])
    verified = await client.post(
        "/captcha/verify",
        data={"captcha_id": challenge["id"], "pow_nonce": nonce},
        headers={"Accept": "application/json"},
    )
    assert verified.status_code == 200 and verified.json()["grace_posts"] == CONFIG.grace_posts
    assert GRACE_COOKIE in verified.cookies
    again = (await client.get("/captcha/challenge?kind=text", headers={"Accept": "application/json"})).json()
    assert again["grace"] is True and again["image"] == f"/captcha/image?id={again['id']}"


async def test_no_js_picture_sets_a_cookie_and_replay_is_refused(
    client: httpx.AsyncClient, service: AntispamService
) -> None:
    image = await client.get("/captcha/image")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"].startswith("no-store")
    challenge_id = image.cookies[CHALLENGE_COOKIE]
    answer = service.captcha.text_for(challenge_id)
    form = {"captcha_answer": answer.lower(), "return": "/b/thread/1"}
    verified = await client.post("/captcha/verify", data=form)  # the cookie jar sends the id
    assert verified.status_code == 303 and verified.headers["location"] == "/b/thread/1"
    assert GRACE_COOKIE in verified.cookies
    client.cookies.set(CHALLENGE_COOKIE, challenge_id)  # a replay sends the used id again
    replay = await client.post("/captcha/verify", data=form, headers={"Accept": "application/json"})
    assert replay.status_code == 400 and replay.json()["error"]["code"] == "captcha_used"


async def test_picture_of_an_issued_text_challenge(client: httpx.AsyncClient) -> None:
    challenge = (await client.get("/captcha/challenge?kind=text")).json()
    assert (await client.get(challenge["image"])).status_code == 200
    assert (await client.get("/captcha/image?id=ffffffpnosuchchallenge")).status_code == 404


async def test_verify_without_an_answer(client: httpx.AsyncClient) -> None:
    response = await client.post("/captcha/verify", data={}, headers={"Accept": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "captcha_answer"


async def test_api_post_guard(service: AntispamService) -> None:
    from dataclasses import dataclass

    from imageboard.antispam.routes import api_post_guard

    @dataclass(frozen=True)
    class NewPost:
        board: str
        thread_no: int
        comment: str
        ip: str | None
        has_files: bool = False

    @dataclass(frozen=True)
    class Board:
        uri: str
        replies_per_window: int | None = 1

    async def get_board(uri: str) -> Board:
        return Board(uri)

    guard = api_post_guard(service, get_board)
    app = make_app(service)

    @app.post("/api/boards/b/threads/1")
    async def api_reply(request: Request) -> Response:
        form = await request.form()
        peer = request.client.host if request.client else None
        await guard(request, NewPost("b", 1, str(form.get("comment", "")), peer))
        return JSONResponse({"ok": True}, status_code=201)

    async with client_for(app, "203.0.113.7") as http:
        assert (await http.post("/api/boards/b/threads/1", data={"comment": "one"})).status_code == 201
        refused = await http.post("/api/boards/b/threads/1", data={"comment": "two"})
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "reply_limit"
        assert refused.headers["retry-after"] == "60"
        honeypot = await http.post("/api/boards/b/threads/1", data={"comment": "three", "url": "http://x"})
        assert honeypot.status_code == 400 and honeypot.json()["error"]["code"] == "honeypot"

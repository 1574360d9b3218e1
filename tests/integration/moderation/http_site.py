"""The whole application in-process (SQLite), with staff accounts signed in over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import httpx
import pyotp
from fastapi import FastAPI

from imageboard.accounts import AccountsService, BoardRole, SiteRole
from imageboard.boards import BoardsService, NewPost
from imageboard.core.db import ReadSession, WriteSession
from imageboard.moderation import ModerationService

PASSWORD = "correct horse battery staple"
JSON = {"accept": "application/json"}
POSTER_IP = "198.51.100.23"


class FakeFiles:
    """Stands in for the media context's file operations."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def delete_files_of_posts(self, session: WriteSession, post_ids: Sequence[int]) -> int:
        self.calls.append("delete")
        return 1

    async def spoiler_files_of_posts(self, session: WriteSession, post_ids: Sequence[int]) -> int:
        self.calls.append("spoiler")
        return 1

    async def file_hashes_of_posts(
        self, session: ReadSession | WriteSession, post_ids: Sequence[int]
    ) -> list[tuple[str, int | None]]:
        self.calls.append("hashes")
        return [(f"{post_ids[0]:064x}", 0x0F0F0F0F0F0F0F0F)]

    async def count_live_files(self, session: ReadSession | WriteSession, post_ids: Sequence[int]) -> int:
        self.calls.append("count")
        return 0


@dataclass
class Staff:
    client: httpx.AsyncClient
    csrf: str = ""
    cookies: dict[str, str] = field(default_factory=dict)


@dataclass
class Site:
    app: FastAPI
    transport: httpx.ASGITransport

    @property
    def boards(self) -> BoardsService:
        return self.app.state.boards  # type: ignore[no-any-return]

    @property
    def accounts(self) -> AccountsService:
        return self.app.state.accounts  # type: ignore[no-any-return]

    @property
    def moderation(self) -> ModerationService:
        return self.app.state.moderation  # type: ignore[no-any-return]

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=self.transport, base_url="http://testserver")

    async def post(self, comment: str, *, thread: int = 0, board: str = "b", ip: str = POSTER_IP) -> int:
        created = await self.boards.create_post(NewPost(board=board, thread_no=thread, comment=comment, ip=ip))
        return created.post_no

    async def staff(
        self, username: str, *, site_role: SiteRole | None = None, boards: dict[str, BoardRole] | None = None
    ) -> Staff:
        """A signed-in staff member with their own cookie jar; site staff sign in with a code."""
        user = await self.accounts.create_user(username, PASSWORD, site_role=site_role)
        for uri, role in (boards or {}).items():
            await self.accounts.set_board_role(username, uri, role)
        client = self.client()
        secret = None
        if site_role is not None:
            secret = pyotp.random_base32()
            totp = pyotp.TOTP(secret)
            await self.accounts.enable_totp(user.id, secret, totp.now())
        response = await client.post("/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 303, response.text
        if secret is not None:
            assert response.headers["location"] == "/login/code"
            import time

            code = pyotp.TOTP(secret).at(int(time.time()) + 30)  # the next step: the current one is used
            response = await client.post("/login/code", data={"code": code})
            assert response.status_code == 303, response.text
        info = await self.accounts.session(client.cookies.get("session"))
        assert info is not None and info.verified
        return Staff(client=client, csrf=info.csrf_token)


async def make_site(app: FastAPI) -> AsyncIterator[Site]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    site = Site(app=app, transport=transport)
    site.moderation.use_files(FakeFiles())
    yield site

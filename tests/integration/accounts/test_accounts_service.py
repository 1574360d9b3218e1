"""Accounts against both databases: passwords, lockout, sessions, two factors, CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from imageboard.accounts import AccountsService, BoardRole, SiteRole
from imageboard.boards import BoardSpec, BoardsService
from imageboard.core.db import Database
from imageboard.core.errors import Conflict, Forbidden, InvalidInput, TooManyRequests

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def accounts(database: Database, clock: Clock) -> AccountsService:
    return AccountsService(database, clock=clock)


async def test_create_and_sign_in(accounts: AccountsService) -> None:
    user = await accounts.create_user("Alice", PASSWORD)
    assert user.username == "alice" and user.site_role is None
    with pytest.raises(Conflict):
        await accounts.create_user("alice", PASSWORD)
    with pytest.raises(InvalidInput, match="at least"):
        await accounts.create_user("bob", "short")
    with pytest.raises(InvalidInput, match="username"):
        await accounts.create_user("x", PASSWORD)
    signed = await accounts.sign_in("alice", PASSWORD)
    assert not signed.needs_second_factor and not signed.must_enrol_second_factor
    info = await accounts.session(signed.token)
    assert info is not None and info.verified and info.actor.username == "alice"
    with pytest.raises(InvalidInput, match="Wrong username or password"):
        await accounts.sign_in("alice", "wrong password!")
    with pytest.raises(InvalidInput, match="Wrong username or password"):
        await accounts.sign_in("nobody", PASSWORD)


async def test_each_sign_in_gets_a_new_session_and_sign_out_everywhere(accounts: AccountsService) -> None:
    user = await accounts.create_user("alice", PASSWORD)
    first = await accounts.sign_in("alice", PASSWORD)
    second = await accounts.sign_in("alice", PASSWORD)
    assert first.token != second.token
    await accounts.sign_out(first.token)
    assert await accounts.session(first.token) is None
    assert await accounts.session(second.token) is not None
    assert await accounts.sign_out_everywhere(user.id) == 1
    assert await accounts.session(second.token) is None


async def test_lockout_after_repeated_failures(accounts: AccountsService, clock: Clock) -> None:
    await accounts.create_user("alice", PASSWORD)
    for _ in range(5):
        with pytest.raises(InvalidInput):
            await accounts.sign_in("alice", "not the password")
    with pytest.raises(TooManyRequests) as locked:
        await accounts.sign_in("alice", PASSWORD)
    assert locked.value.retry_after > 0 and "try again" in locked.value.message
    clock.now += timedelta(minutes=16)
    assert (await accounts.sign_in("alice", PASSWORD)).token


async def test_sessions_expire(accounts: AccountsService, clock: Clock) -> None:
    await accounts.create_user("alice", PASSWORD)
    signed = await accounts.sign_in("alice", PASSWORD)
    clock.now += timedelta(days=15)
    assert await accounts.session(signed.token) is None
    assert await accounts.purge_expired_sessions() == 1


async def test_two_factor_enrolment_sign_in_and_replay(accounts: AccountsService, clock: Clock) -> None:
    user = await accounts.create_user("admin", PASSWORD, site_role=SiteRole.ADMIN)
    signed = await accounts.sign_in("admin", PASSWORD)
    assert signed.must_enrol_second_factor and not signed.needs_second_factor
    before = await accounts.session(signed.token)
    assert before is not None and before.enrolment_owed and before.actor.site_role is None
    secret = accounts.new_totp_secret()
    assert accounts.provisioning_uri("admin", secret).startswith("otpauth://totp/")
    with pytest.raises(InvalidInput):
        await accounts.enable_totp(
            user.id, secret, "000000" if pyotp.TOTP(secret).at(clock.now) != "000000" else "111111"
        )
    await accounts.enable_totp(user.id, secret, pyotp.TOTP(secret).at(clock.now))

    clock.now += timedelta(seconds=60)
    pending = await accounts.sign_in("admin", PASSWORD)
    assert pending.needs_second_factor
    info = await accounts.session(pending.token)
    assert info is not None and not info.verified
    code = pyotp.TOTP(secret).at(clock.now)
    verified = await accounts.verify_second_factor(pending.token, code)
    after = await accounts.session(verified)
    assert after is not None and after.verified and after.actor.site_role is SiteRole.ADMIN
    assert await accounts.session(pending.token) is None, "the half-signed-in session is replaced"
    again = await accounts.sign_in("admin", PASSWORD)
    with pytest.raises(InvalidInput, match="already used"):
        await accounts.verify_second_factor(again.token, code)


async def test_csrf_token_belongs_to_its_session(accounts: AccountsService) -> None:
    await accounts.create_user("alice", PASSWORD)
    one = await accounts.sign_in("alice", PASSWORD)
    two = await accounts.sign_in("alice", PASSWORD)
    info = await accounts.session(one.token)
    assert info is not None
    await accounts.check_csrf(one.token, info.csrf_token)
    for token, presented in (
        (two.token, info.csrf_token),
        (one.token, "forged"),
        (one.token, None),
        (None, info.csrf_token),
    ):
        with pytest.raises(Forbidden, match="reload the page"):
            await accounts.check_csrf(token, presented)


async def test_board_roles(accounts: AccountsService, database: Database) -> None:
    await BoardsService(database, secret=b"x").create_board(BoardSpec(uri="g", title="G"))
    await accounts.create_user("owner", PASSWORD)
    await accounts.set_board_role("owner", "g", BoardRole.OWNER)
    signed = await accounts.sign_in("owner", PASSWORD)
    info = await accounts.session(signed.token)
    assert info is not None and info.actor.board_roles == {"g": BoardRole.OWNER}
    assert await accounts.board_staff("g") == [("owner", "owner")]
    await accounts.set_board_role("owner", "g", None)
    assert await accounts.board_staff("g") == []

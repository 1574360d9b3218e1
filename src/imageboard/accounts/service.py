"""Use cases of the accounts context: staff accounts, sign-in with an optional (for site
staff, required) second factor, sessions, CSRF tokens and board staff."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from imageboard.accounts import repository as repo
from imageboard.accounts.models import Session, User
from imageboard.accounts.permissions import TWO_FACTOR_REQUIRED, Actor, BoardRole, SiteRole
from imageboard.accounts.schemas import MAX_PASSWORD, MIN_PASSWORD, USERNAME, SessionInfo, SignIn, UserView
from imageboard.core.clock import utcnow
from imageboard.core.db import Database
from imageboard.core.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests
from imageboard.core.numbers import is_decimal

# OWASP's argon2id baseline: 19 MiB, 2 passes — strong, yet cheap enough for a small server.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A hash of a random password, checked when the user does not exist so timing tells nothing.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

SESSION_LIFETIME = timedelta(days=14)
UNVERIFIED_LIFETIME = timedelta(minutes=10)
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
TOTP_ISSUER = "Imageboard"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AccountsService:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow, issuer: str = TOTP_ISSUER) -> None:
        self.db = db
        self.clock = clock
        self.issuer = issuer

    # --- accounts -----------------------------------------------------------------------

    async def create_user(self, username: str, password: str, *, site_role: SiteRole | None = None) -> UserView:
        username = username.strip().lower()
        if not USERNAME.fullmatch(username):
            raise InvalidInput("A username is 3 to 32 lowercase letters, digits or underscores.", field="username")
        _check_password(password)
        digest = await asyncio.to_thread(_hasher.hash, password)
        async with self.db.writer() as session:
            if await repo.user_by_name(session, username):
                raise Conflict(f"The username '{username}' is taken.", field="username", code="username_taken")
            user = await repo.add_user(
                session,
                User(
                    username=username,
                    password_hash=digest,
                    site_role=site_role.value if site_role else None,
                    totp_enabled=False,
                    totp_last_step=0,
                    failed_logins=0,
                    disabled=False,
                    created_at=self.clock(),
                ),
            )
            return _view(user)

    async def list_users(self) -> list[UserView]:
        async with self.db.reader() as session:
            return [_view(u) for u in await repo.all_users(session)]

    async def count_users(self) -> int:
        async with self.db.reader() as session:
            return await repo.count_users(session)

    async def set_site_role(self, username: str, role: SiteRole | None) -> None:
        async with self.db.writer() as session:
            user = await _user_or_404(session, username)
            user.site_role = role.value if role else None

    async def set_board_role(self, username: str, board_uri: str, role: BoardRole | None) -> None:
        async with self.db.writer() as session:
            user = await _user_or_404(session, username)
            await repo.set_board_role(session, user.id, board_uri, role.value if role else None)

    async def board_staff(self, board_uri: str) -> list[tuple[str, str]]:
        async with self.db.reader() as session:
            return await repo.board_staff(session, board_uri)

    # --- signing in ---------------------------------------------------------------------

    async def sign_in(self, username: str, password: str) -> SignIn:
        """Check the password and open a new session (never reusing one the browser brought:
        that is what prevents session fixation)."""
        failure = InvalidInput("Wrong username or password.", field="password", code="bad_credentials")
        now = self.clock()
        async with self.db.reader() as session:
            user = await repo.user_by_name(session, username.strip().lower())
        if user is None:
            await asyncio.to_thread(_verify, _DUMMY_HASH, password)
            raise failure
        if user.locked_until and user.locked_until > now:
            wait = int((user.locked_until - now).total_seconds() // 60) + 1
            raise TooManyRequests(
                f"Too many failed sign-ins: try again in {wait} minute(s).",
                retry_after=int((user.locked_until - now).total_seconds()) + 1,
            )
        ok = await asyncio.to_thread(_verify, user.password_hash, password)
        async with self.db.writer() as session:
            fresh = await repo.user_by_id(session, user.id)
            assert fresh is not None
            if fresh.disabled:
                raise Forbidden("This account is disabled.", code="disabled")
            if not ok:
                # Counted (and committed) before the refusal is raised below.
                fresh.failed_logins += 1
                if fresh.failed_logins >= MAX_FAILED_LOGINS:
                    fresh.locked_until = now + LOCKOUT
                    fresh.failed_logins = 0
        if not ok:
            raise failure
        async with self.db.writer() as session:
            fresh = await repo.user_by_id(session, user.id)
            assert fresh is not None
            fresh.failed_logins = 0
            fresh.locked_until = None
            needs_totp = fresh.totp_enabled
            must_enrol = (
                not fresh.totp_enabled
                and fresh.site_role is not None
                and SiteRole(fresh.site_role) in TWO_FACTOR_REQUIRED
            )
            if not needs_totp:
                fresh.last_login_at = now
            token = secrets.token_urlsafe(32)
            await repo.add_session(
                session,
                Session(
                    token_hash=hash_token(token),
                    user_id=fresh.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + (UNVERIFIED_LIFETIME if needs_totp else SESSION_LIFETIME),
                    verified=not needs_totp,
                    csrf_secret=secrets.token_hex(32),
                ),
            )
        return SignIn(token=token, needs_second_factor=needs_totp, must_enrol_second_factor=must_enrol)

    async def verify_second_factor(self, token: str, code: str) -> str:
        """Exchange a half-signed-in session and a TOTP code for a new, verified session."""
        now = self.clock()
        async with self.db.writer() as session:
            row = await repo.session_by_hash(session, hash_token(token))
            if row is None or row.expires_at < now:
                raise Forbidden("Your sign-in expired: enter your username and password again.", code="expired")
            user = await repo.user_by_id(session, row.user_id)
            assert user is not None
            if not user.totp_enabled or not user.totp_secret:
                raise InvalidInput("This account has no second factor.", code="no_second_factor")
            step = _accept_totp(user.totp_secret, code, now, user.totp_last_step)
            if step is None:
                raise InvalidInput(
                    "That code is wrong or already used: enter the current code from your app.",
                    field="code",
                    code="bad_code",
                )
            user.totp_last_step = step
            user.last_login_at = now
            await repo.delete_session(session, row.token_hash)
            fresh = secrets.token_urlsafe(32)
            await repo.add_session(
                session,
                Session(
                    token_hash=hash_token(fresh),
                    user_id=user.id,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + SESSION_LIFETIME,
                    verified=True,
                    csrf_secret=secrets.token_hex(32),
                ),
            )
        return fresh

    async def session(self, token: str | None) -> SessionInfo | None:
        if not token or len(token) > 200:
            return None
        now = self.clock()
        async with self.db.reader() as session:
            row = await repo.session_by_hash(session, hash_token(token))
            if row is None or row.expires_at < now:
                return None
            user = await repo.user_by_id(session, row.user_id)
            if user is None or user.disabled:
                return None
            roles = await repo.board_roles(session, user.id)
        if now - row.last_seen_at > timedelta(minutes=5):
            async with self.db.writer() as session:
                await repo.touch_session(session, row.token_hash, now)
        site_role = SiteRole(user.site_role) if user.site_role else None
        # Site staff act as such only once their second factor is set up.
        enrolment_owed = site_role in TWO_FACTOR_REQUIRED and not user.totp_enabled
        actor = Actor(
            user_id=user.id,
            username=user.username,
            site_role=None if enrolment_owed else site_role,
            board_roles={uri: BoardRole(role) for uri, role in roles.items()},
        )
        return SessionInfo(
            actor=actor,
            verified=row.verified,
            totp_enabled=user.totp_enabled,
            enrolment_owed=enrolment_owed,
            csrf_token=_csrf_token(row.csrf_secret),
        )

    async def check_csrf(self, token: str | None, presented: str | None) -> None:
        """Refuse a state-changing request whose form token does not belong to its session."""
        info = await self.session(token)
        if info is None or not presented or not hmac.compare_digest(info.csrf_token, presented):
            raise Forbidden(
                "This form has expired or did not come from this site: reload the page and try again.", code="csrf"
            )

    async def sign_out(self, token: str) -> None:
        async with self.db.writer() as session:
            await repo.delete_session(session, hash_token(token))

    async def sign_out_everywhere(self, user_id: int) -> int:
        async with self.db.writer() as session:
            return await repo.delete_sessions_of(session, user_id)

    async def purge_expired_sessions(self) -> int:
        async with self.db.writer() as session:
            return await repo.delete_expired_sessions(session, self.clock())

    # --- two-factor enrolment -----------------------------------------------------------

    def new_totp_secret(self) -> str:
        return pyotp.random_base32()

    def provisioning_uri(self, username: str, secret: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=self.issuer)

    async def enable_totp(self, user_id: int, secret: str, code: str) -> None:
        now = self.clock()
        step = _accept_totp(secret, code, now, 0)
        if step is None:
            raise InvalidInput(
                "That code does not match: check your app's clock and enter the current code.",
                field="code",
                code="bad_code",
            )
        async with self.db.writer() as session:
            user = await repo.user_by_id(session, user_id)
            if user is None:
                raise NotFound("No such user.")
            user.totp_secret = secret
            user.totp_enabled = True
            user.totp_last_step = step

    async def change_password(self, user_id: int, current: str, new: str) -> None:
        _check_password(new)
        async with self.db.reader() as session:
            user = await repo.user_by_id(session, user_id)
        if user is None or not await asyncio.to_thread(_verify, user.password_hash, current):
            raise InvalidInput("The current password is wrong.", field="current_password")
        digest = await asyncio.to_thread(_hasher.hash, new)
        async with self.db.writer() as session:
            fresh = await repo.user_by_id(session, user_id)
            assert fresh is not None
            fresh.password_hash = digest
            await repo.delete_sessions_of(session, user_id)


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"Choose a password of at least {MIN_PASSWORD} characters.", field="password")
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(f"A password may have at most {MAX_PASSWORD} characters.", field="password")


def _verify(digest: str, password: str) -> bool:
    try:
        return _hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


def _accept_totp(secret: str, code: str, now: datetime, last_step: int) -> int | None:
    """The time step of a valid code (one step of clock drift either way), or None. A step at
    or before the last one accepted is refused, so a code cannot be replayed."""
    code = code.strip().replace(" ", "")
    if not is_decimal(code) or len(code) != 6:
        return None
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if step > last_step and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def _csrf_token(secret: str) -> str:
    return hmac.new(bytes.fromhex(secret), b"csrf", hashlib.sha256).hexdigest()


async def _user_or_404(session: repo.AnySession, username: str) -> User:
    user = await repo.user_by_name(session, username.strip().lower())
    if user is None:
        raise NotFound(f"There is no user '{username}'.", code="user_not_found")
    return user


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        username=user.username,
        site_role=user.site_role,
        totp_enabled=user.totp_enabled,
        disabled=user.disabled,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )

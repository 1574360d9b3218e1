"""What the accounts context takes in and hands out."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from imageboard.accounts.permissions import Actor

USERNAME = re.compile(r"^[a-z0-9_]{3,32}$")
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    username: str
    site_role: str | None
    totp_enabled: bool
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True, slots=True)
class SignIn:
    """The outcome of a password check: a session token, and whether the second factor is
    still owed before the session may act."""

    token: str
    needs_second_factor: bool
    must_enrol_second_factor: bool


@dataclass(frozen=True, slots=True)
class SessionInfo:
    actor: Actor
    verified: bool
    csrf_token: str
    totp_enabled: bool
    enrolment_owed: bool = False  # site staff without a second factor: no site powers until enrolled

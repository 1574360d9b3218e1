"""The anti-spam context's errors. Each names what the poster can do and, where waiting
helps, how long to wait; the app maps them to a page or to JSON like every DomainError."""

from __future__ import annotations

import math

from imageboard.core.errors import DomainError, Forbidden, TooManyRequests


def wait_phrase(seconds: float) -> str:
    """'12 seconds', '1 minute', '3 minutes and 5 seconds', '2 hours' — for messages."""
    total = max(1, math.ceil(seconds))
    if total < 60:
        return f"{total} second{'s' if total != 1 else ''}"
    if total < 3600:
        minutes, rest = divmod(total, 60)
        text = f"{minutes} minute{'s' if minutes != 1 else ''}"
        return f"{text} and {rest} second{'s' if rest != 1 else ''}" if rest and minutes < 5 else text
    hours, rest = divmod(total, 3600)
    minutes = math.ceil(rest / 60)
    text = f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{text} and {minutes} minute{'s' if minutes != 1 else ''}" if minutes else text


class RateLimited(TooManyRequests):
    """429: a limit was reached. The limiters measure ``retry_after`` in fractional seconds;
    the Retry-After header wants whole ones, at least 1."""

    def __init__(self, message: str, *, retry_after: float, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, retry_after=max(1, math.ceil(retry_after)), field=field, code=code)


class CaptchaRequired(DomainError):
    status = 400
    code = "captcha_required"


class CaptchaFailed(DomainError):
    status = 400
    code = "captcha_failed"


class LooksAutomated(DomainError):
    """A heuristic refused the post; the message says what to change."""

    status = 400
    code = "looks_automated"


class NetworkRefused(Forbidden):
    status = 403
    code = "network_refused"


class AntispamUnavailable(DomainError):
    """503: the shared rate-limit store (Redis) cannot be reached, so posting pauses."""

    status = 503
    code = "antispam_unavailable"

    def __init__(self, message: str, *, retry_after: int = 30) -> None:
        super().__init__(message)
        self.retry_after = retry_after

"""Domain errors. Each carries a stable code, the form field at fault (if any) and a message
a person can act on; the HTTP layers map the kind to a status code."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class InvalidInput(DomainError):
    status = 400
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class UnsupportedMedia(DomainError):
    status = 415
    code = "unsupported_media"


class TooManyRequests(DomainError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, field=field, code=code)
        self.retry_after = retry_after


class ServiceUnavailable(DomainError):
    """503: something the request needs (the database, the media storage) is away for now;
    the same request will work again once it is back."""

    status = 503
    code = "unavailable"

    def __init__(
        self, message: str, *, retry_after: int = 5, field: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message, field=field, code=code)
        self.retry_after = retry_after


class InsufficientStorage(DomainError):
    """507: the server has no room left to store an upload; nothing was saved."""

    status = 507
    code = "storage_full"

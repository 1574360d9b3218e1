"""Error reporting to Sentry when ``IMAGEBOARD_SENTRY_DSN`` is set; nothing is imported or
sent otherwise.

Reported: unhandled exceptions in requests (through Sentry's Starlette/FastAPI
integrations, with the route as the transaction name) and records logged at ERROR or above
(``log.exception(...)`` in background tasks). Performance tracing stays with OpenTelemetry.
Client addresses, cookies and forwarding headers are left out unless ``IMAGEBOARD_LOG_IPS``
is on, and stack frames never carry their local variables (form fields, post passwords);
the request ID is attached as a tag so an event leads to its log lines.
"""

from __future__ import annotations

from typing import Any, Protocol

from imageboard.observability.logging import current_request_id

__all__ = ["flush_sentry", "setup_sentry"]

_PERSONAL_HEADERS = frozenset({"cookie", "x-forwarded-for", "x-real-ip", "forwarded", "authorization"})


class SentrySettings(Protocol):
    @property
    def environment(self) -> str: ...

    @property
    def sentry_dsn(self) -> str: ...

    @property
    def log_ips(self) -> bool: ...


def setup_sentry(settings: SentrySettings, *, release: str, role: str = "all") -> bool:
    """Start the Sentry client for this process when a DSN is set; True if it is on."""
    if not settings.sentry_dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    keep_personal = settings.log_ips

    def before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
        request_id = current_request_id()
        if request_id:
            event.setdefault("tags", {})["request_id"] = request_id
        if not keep_personal:
            event.get("user", {}).pop("ip_address", None)
            request = event.get("request") or {}
            request.pop("cookies", None)
            headers = request.get("headers")
            if isinstance(headers, dict):
                for name in [key for key in headers if key.lower() in _PERSONAL_HEADERS]:
                    del headers[name]
            request.pop("env", None)
        return event

    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        release=f"imageboard@{release}",
        send_default_pii=keep_personal,
        # Frame locals hold ASGI scopes (client addresses), form fields and post passwords.
        include_local_variables=False,
        traces_sample_rate=None,
        before_send=before_send,  # type: ignore[arg-type]
        # Only the integrations the site needs: auto-enabling imports every supported
        # library that happens to be installed (botocore, flask, redis…), ~25 MB per process.
        auto_enabling_integrations=False,
        integrations=[StarletteIntegration(), FastApiIntegration()],
    )
    sentry_sdk.set_tag("role", role)
    return True


def flush_sentry(timeout: float = 2.0) -> None:
    """Send queued events before the process stops (no-op when Sentry is off)."""
    import sys

    module = sys.modules.get("sentry_sdk")
    if module is not None:
        module.flush(timeout=timeout)

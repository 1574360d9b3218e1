"""Reading staff forms and answering them: HTML forms get a 303 back to the page they came
from, JSON clients ``{"ok": true}``. Shared by the moderation routes."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import JSONResponse, RedirectResponse, Response

from imageboard.core.errors import InvalidInput
from imageboard.core.http import safe_local_url, wants_json

MAX_FIELDS = 64
MAX_TEXT = 20_000


def text(form: FormData, name: str, *, limit: int = MAX_TEXT) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if len(value) > limit:
        raise InvalidInput(f"The field '{name}' is too long.", field=name)
    return value


def integer(form: FormData, name: str, default: int = 0) -> int:
    raw = text(form, name, limit=20).strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"'{name}' must be a whole number.", field=name) from None


def flag(form: FormData, name: str) -> bool:
    return text(form, name, limit=10).strip().lower() in {"on", "1", "true", "yes"}


async def read_form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=MAX_FIELDS)


def back(request: Request, form: FormData | None, fallback: str) -> str:
    """Where a form sends the browser afterwards: its ``next`` field, else the page it was
    sent from, else ``fallback`` — same-site paths only."""
    if form is not None:
        wanted = text(form, "next", limit=500)
        if wanted:
            return safe_local_url(wanted, fallback)
    referer = request.headers.get("referer", "")
    if request.url.netloc and request.url.netloc in referer:
        return safe_local_url(referer.partition(request.url.netloc)[2] or None, fallback)
    return fallback


def done(request: Request, form: FormData | None, fallback: str, **body: Any) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": True, **body})
    return RedirectResponse(back(request, form, fallback), status_code=303)

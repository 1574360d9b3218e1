"""What every staff page handler shares: the signed-in viewer, and the sign-in form in answer
to a staff page asked for without a session."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import Request
from starlette.responses import Response

from imageboard.accounts import SessionInfo
from imageboard.accounts.routes import NotSignedIn, current_session
from imageboard.core.http import wants_json

if TYPE_CHECKING:
    from imageboard.web import PageRenderer

Handler = Callable[..., Awaitable[Response]]


async def viewer(request: Request) -> SessionInfo:
    info = await current_session(request)
    if info is None:
        raise NotSignedIn("Sign in first: this page is for staff.")
    return info


def signed_in_pages(pages: PageRenderer) -> Callable[[Handler], Handler]:
    """A decorator: the staff page answers 401 with the sign-in form when there is no
    session (JSON clients get the error itself)."""

    def sign_in_first(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request, *args: Any, **kwargs: Any) -> Response:
            try:
                return await handler(request, *args, **kwargs)
            except NotSignedIn as exc:
                if wants_json(request):
                    raise
                return await pages.render(
                    request, "pages/login.html", status_code=401, step="password", error=exc.message
                )

        return wrapper

    return sign_in_first

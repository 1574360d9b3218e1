"""Errors of the v1 API, all in one shape, and the OpenAPI document that says so."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from imageboard.api.v1_schemas import ErrorResponse
from imageboard.core.errors import DomainError, TooManyRequests

log = logging.getLogger(__name__)
_LOCATIONS = {"body", "query", "path", "header", "cookie"}

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not Modified: the copy named by If-None-Match or If-Modified-Since is current."}
}
BAD_REQUEST: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "A parameter or field is invalid."}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such board, thread or post."}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorResponse, "description": "The database (or another backend) is unreachable for now; try again."}
}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_MODIFIED,
    **BAD_REQUEST,
    **NOT_FOUND,
    429: {"model": ErrorResponse, "description": "Too many requests from this client; see Retry-After."},
    **UNAVAILABLE,
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **BAD_REQUEST,
    403: {"model": ErrorResponse, "description": "Refused: wrong password, closed or archived thread, cross-site."},
    **NOT_FOUND,
    413: {"model": ErrorResponse, "description": "The request body is too large."},
    415: {"model": ErrorResponse, "description": "Unsupported file type."},
    429: {"model": ErrorResponse, "description": "Too many posts in a short time; see Retry-After."},
    **UNAVAILABLE,
    507: {"model": ErrorResponse, "description": "No room left to store files; nothing was saved."},
}


def error_json(
    status: int, code: str, message: str, field: str | None, headers: dict[str, str] | None = None
) -> Response:
    body = {"error": {"code": code, "message": message, "field": field}}
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(api: FastAPI, *, field_names: dict[str, str] | None = None) -> None:
    """``field_names`` renames the form fields named in domain errors (the service speaks
    4chan's form names) to this API's field names."""
    renames = field_names or {}

    async def domain_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
        field = renames.get(exc.field, exc.field) if exc.field else None
        return error_json(exc.status, exc.code, exc.message, field, headers)

    async def http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            message, code = "There is nothing at this address in the API.", "not_found"
        elif exc.status_code == 405:
            message, code = "This method is not allowed here.", "method_not_allowed"
        else:
            message, code = str(exc.detail), "http_error"
        return error_json(exc.status_code, code, message, None, dict(exc.headers or {}))

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {}
        names = [str(part) for part in first.get("loc", ()) if str(part) not in _LOCATIONS]
        field = names[0] if names else None
        reason = str(first.get("msg", "invalid value"))
        message = f"Invalid value for '{field}': {reason}." if field else f"Invalid request: {reason}."
        return error_json(400, "invalid", message, field)

    async def client_gone(_request: Request, _exc: Exception) -> Response:
        # The client hung up mid-request: nobody reads this, and it is no server error.
        return Response(status_code=499)

    async def server_error(_request: Request, exc: Exception) -> Response:
        log.error("unhandled error in the API", exc_info=exc)
        return error_json(500, "internal", "Something went wrong on our side; try again later.", None)

    api.add_exception_handler(DomainError, domain_error)
    api.add_exception_handler(StarletteHTTPException, http_error)
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(ClientDisconnect, client_gone)
    api.add_exception_handler(Exception, server_error)


def install_openapi(api: FastAPI, *, tags: list[dict[str, Any]]) -> None:
    """FastAPI documents 422 with its own error body on every operation; ours answers
    invalid input with 400 and :class:`ErrorResponse`, so those entries go."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema:
            return api.openapi_schema
        schema = get_openapi(
            title=api.title,
            version=api.version,
            openapi_version=api.openapi_version,
            summary=api.summary,
            description=api.description,
            routes=api.routes,
            servers=api.servers,
            tags=tags,
        )
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]

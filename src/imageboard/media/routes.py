"""HTTP for stored files: ``GET/HEAD {base}/{board}/{tim}{ext}`` (the original) and
``{base}/{board}/{tim}s.jpg`` (its thumbnail).

Files are streamed from storage (never read whole into memory), with single-range support,
long-lived immutable caching (a ``tim`` never changes content) and ``nosniff``. When the
storage has a public URL (a CDN or bucket) the route redirects there instead.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from imageboard.media.service import MediaService
from imageboard.media.storage import BlobNotFound, StorageError
from imageboard.media.upkeep import THUMB_MIME

IMMUTABLE = "public, max-age=31536000, immutable"
MAX_TIM = 2**63 - 1
_BOARD = re.compile(r"[a-z0-9]{1,32}")
_NAME = re.compile(r"(?P<tim>[0-9]{1,19})(?:(?P<thumb>s\.jpg)|(?P<ext>\.[a-z0-9]{2,5}))")
_RANGE = re.compile(r"bytes\s*=\s*(?P<first>[0-9]*)\s*-\s*(?P<last>[0-9]*)", re.IGNORECASE)
_UNSAFE_FALLBACK = re.compile(r'[^\x20-\x7e]|["\\%;]')

Unsatisfiable = Literal["unsatisfiable"]
UNSATISFIABLE: Unsatisfiable = "unsatisfiable"


def parse_name(name: str) -> tuple[int, str | None] | None:
    """``"1700000000123456.webm"`` → (tim, ".webm"); ``"…s.jpg"`` → (tim, None); else None."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    tim = int(match.group("tim"))
    if tim > MAX_TIM:
        return None
    return tim, None if match.group("thumb") else match.group("ext")


def parse_range(header: str | None, size: int) -> tuple[int, int] | Unsatisfiable | None:
    """A single byte range as (start, end) with ``end`` exclusive; None to serve the whole
    file (no header, a header we do not understand, or several ranges); or UNSATISFIABLE."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:  # other units, malformed, or a multi-range request: send everything
        return None
    first, last = match.group("first"), match.group("last")
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(size - suffix, 0), size
    start = int(first)
    if last and int(last) < start:
        return None  # invalid range-spec: ignored, as RFC 9110 allows
    if start >= size:
        return UNSATISFIABLE
    end = size if not last else min(int(last) + 1, size)
    return start, end


def content_disposition(filename: str) -> str:
    """``inline`` with an ASCII fallback and the exact UTF-8 name (RFC 6266 / RFC 5987); no
    character of the name can end the header or the parameter."""
    filename = filename[:255]
    fallback = _UNSAFE_FALLBACK.sub("_", filename).strip() or "file"
    encoded = quote(filename.encode("utf-8", "replace"), safe="")
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    return any(candidate.strip().removeprefix("W/") == etag for candidate in header.split(","))


def _not_found(message: str = "There is no such file.") -> Response:
    return JSONResponse(
        {"error": {"code": "not_found", "message": message, "field": None}},
        status_code=404,
        headers={"Cache-Control": "public, max-age=60", "X-Content-Type-Options": "nosniff"},
    )


def _unavailable() -> Response:
    return JSONResponse(
        {"error": {"code": "storage_unavailable", "message": "The file store is not answering; try again soon."}},
        status_code=503,
        headers={"Cache-Control": "no-store", "Retry-After": "5"},
    )


def build_media_router(media: MediaService, *, prefix: str = "/media") -> APIRouter:
    router = APIRouter(prefix=prefix.rstrip("/"))
    storage = media.storage

    @router.api_route("/{board}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def media_file(board: str, name: str, request: Request) -> Response:
        parsed = parse_name(name)
        if parsed is None or not _BOARD.fullmatch(board):
            return _not_found()
        tim, ext = parsed
        stored = await media.find(board, tim)
        if stored is None or stored.deleted:
            return _not_found("This file does not exist or was deleted.")
        if ext is None:
            key = stored.thumb_key
            if key is None:
                return _not_found("This file has no thumbnail.")
            etag = f'"{stored.sha256}-{stored.thumb_box}"'
            content_type = THUMB_MIME
            disposition = content_disposition(f"{stored.tim}s.jpg")
        else:
            if ext != stored.ext:
                return _not_found()
            key = stored.key
            etag = f'"{stored.sha256}"'
            content_type = stored.mime
            disposition = content_disposition(f"{stored.filename or stored.tim}{stored.ext}")

        public = storage.public_url(key)
        if public is not None:
            return RedirectResponse(public, status_code=302, headers={"Cache-Control": "public, max-age=300"})

        headers = {
            "Cache-Control": IMMUTABLE,
            "ETag": etag,
            "X-Content-Type-Options": "nosniff",
            "Accept-Ranges": "bytes",
        }
        if _etag_matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)

        try:
            size = await storage.size(key)
        except BlobNotFound:
            return _not_found("The file is missing from storage.")
        except StorageError:
            return _unavailable()

        range_header = request.headers.get("range")
        if_range = request.headers.get("if-range")
        if if_range is not None and if_range.strip() != etag:
            range_header = None  # the client's copy is another version: send it whole
        wanted = parse_range(range_header, size)
        if wanted == UNSATISFIABLE:
            return Response(
                status_code=416,
                headers={**headers, "Content-Range": f"bytes */{size}", "Content-Type": content_type},
            )
        headers["Content-Type"] = content_type
        headers["Content-Disposition"] = disposition
        if wanted is None:
            status, start, end = 200, 0, size
        else:
            status, (start, end) = 206, wanted
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        headers["Content-Length"] = str(end - start)

        if request.method == "HEAD":
            return Response(status_code=status, headers=headers)
        try:
            body = await storage.open_range(key, start, end)
        except BlobNotFound:
            return _not_found("The file is missing from storage.")
        except StorageError:
            return _unavailable()
        return StreamingResponse(body, status_code=status, headers=headers)

    return router

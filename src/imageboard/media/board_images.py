"""Board banners and custom spoiler images: uploaded by a board's owner, checked and cleaned
by the same pipeline as post files (still or animated images only), and kept in media storage
under ``assets/{board}/{sha256}{ext}`` — outside the ``src/`` and ``thumb/`` prefixes the
garbage collector sweeps, since no attachment refers to them.

Names are content-addressed, so an image under a name never changes and may be cached for
good; the board row lists which names are in use.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imageboard.core.errors import InvalidInput
from imageboard.media.limits import MediaLimits
from imageboard.media.service import MediaService
from imageboard.media.storage import BlobNotFound
from imageboard.media.uploads import UploadLike, spool_upload

Purpose = Literal["banner", "spoiler"]

KINDS = frozenset({"jpg", "png", "gif", "webp"})
MAX_BYTES = 512 * 1024
BANNER_WIDTH, BANNER_HEIGHT = 300, 100
SPOILER_MIN, SPOILER_MAX = 100, 250
MIME = {".jpg": "image/jpeg", ".png": "image/png", ".gif": "image/gif", ".webp": "image/webp"}
_NAME = re.compile(r"[0-9a-f]{64}\.(?:jpg|png|gif|webp)")
_BOARD = re.compile(r"[a-z0-9]{1,32}")
_LIMITS = MediaLimits(
    allowed=KINDS,
    max_file_bytes=MAX_BYTES,
    max_pixels=1_000_000,
    max_dimension=1000,
    max_gif_frames=200,
    op_thumb=SPOILER_MAX,
    reply_thumb=SPOILER_MAX,
)


@dataclass(frozen=True, slots=True)
class BoardImage:
    name: str  # "{sha256}{ext}"
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ImageContent:
    """What a route sends for a stored image: a redirect to ``public_url`` when storage has
    one (a CDN), else ``size`` bytes from ``chunks``."""

    mime: str
    public_url: str | None = None
    size: int = 0
    chunks: AsyncIterator[bytes] | None = None


def is_name(name: str) -> bool:
    return bool(_NAME.fullmatch(name))


def asset_key(board: str, name: str) -> str:
    if not _BOARD.fullmatch(board) or not is_name(name):
        raise ValueError(f"bad board image: /{board}/ {name!r}")
    return f"assets/{board}/{name}"


class BoardImages:
    """The media side of banners and spoiler images (moderation's ``ImagePort``)."""

    def __init__(self, media: MediaService) -> None:
        self.media = media

    async def store(self, board: str, purpose: Purpose, upload: UploadLike) -> BoardImage:
        """Check, clean and store an image; refuses anything but a still or animated image of
        the size the purpose needs, with a message saying what to change."""
        if not (upload.filename or "").strip():
            raise InvalidInput("Choose an image file first.", field="file")
        path = await spool_upload(upload, self.media.workdir, MAX_BYTES)
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="asset-", dir=self.media.workdir))
        try:
            from imageboard.media.processing import process_upload

            processed = await asyncio.to_thread(
                process_upload, path, upload.filename or "image", _LIMITS, is_op=True, workdir=scratch
            )
            _check_size(purpose, processed.width, processed.height)
            name = f"{processed.sha256}{processed.ext}"
            await self.media.storage.put_file(asset_key(board, name), processed.original, MIME[processed.ext])
            return BoardImage(name=name, width=processed.width, height=processed.height)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)
            await asyncio.to_thread(path.unlink, missing_ok=True)

    async def remove(self, board: str, name: str) -> None:
        await self.media.storage.delete(asset_key(board, name))

    async def content(self, board: str, name: str) -> ImageContent | None:
        """The stored image, or None when it is missing from storage."""
        key = asset_key(board, name)
        mime = MIME[name[name.rindex(".") :]]
        public = self.media.storage.public_url(key)
        if public is not None:
            return ImageContent(mime=mime, public_url=public)
        try:
            size = await self.media.storage.size(key)
            chunks = await self.media.storage.open_range(key)
        except BlobNotFound:
            return None
        return ImageContent(mime=mime, size=size, chunks=chunks)


def _check_size(purpose: Purpose, width: int, height: int) -> None:
    if purpose == "banner":
        if (width, height) != (BANNER_WIDTH, BANNER_HEIGHT):
            raise InvalidInput(
                f"A banner must be exactly {BANNER_WIDTH}×{BANNER_HEIGHT} pixels; this image is "
                f"{width}×{height}. Resize or crop it and upload it again.",
                field="file",
            )
        return
    if width != height or not SPOILER_MIN <= width <= SPOILER_MAX:
        raise InvalidInput(
            f"A spoiler image must be square, {SPOILER_MIN} to {SPOILER_MAX} pixels a side; this image is "
            f"{width}×{height}. Resize or crop it and upload it again.",
            field="file",
        )

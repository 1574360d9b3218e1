"""From multipart uploads to stored files: spool each upload to disk within its size limit,
then check, clean and store it. Shared by the post form and the JSON API."""

from __future__ import annotations

import asyncio
import errno
import os
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from starlette.datastructures import UploadFile

from imageboard.core.errors import InvalidInput, TooLarge
from imageboard.media.limits import MediaLimits, allowed_kinds
from imageboard.media.schemas import IngestedFile
from imageboard.media.service import MediaService, storage_full

CHUNK = 256 * 1024
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SiteMediaLimits:
    """The site-wide part of the limits; boards choose kinds, file size and file count."""

    max_pixels: int = 50_000_000
    max_dimension: int = 10_000
    max_video_seconds: float = 300.0
    max_gif_frames: int = 1000
    op_thumb: int = 250
    reply_thumb: int = 125

    def for_board(self, *, allowed_media: str, max_file_mb: int) -> MediaLimits:
        return MediaLimits(
            allowed=allowed_kinds(allowed_media),
            max_file_bytes=max_file_mb * MIB,
            max_pixels=self.max_pixels,
            max_dimension=self.max_dimension,
            max_video_seconds=self.max_video_seconds,
            max_gif_frames=self.max_gif_frames,
            op_thumb=self.op_thumb,
            reply_thumb=self.reply_thumb,
        )


class UploadLike(Protocol):
    """What an upload must offer: Starlette's UploadFile, or anything shaped like it."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


def chosen_files(values: Sequence[object]) -> list[UploadFile]:
    """The file inputs that hold a file (an empty file input sends a part with no name)."""
    return [value for value in values if isinstance(value, UploadFile) and value.filename]


async def ingest_uploads(
    media: MediaService,
    uploads: Sequence[UploadLike],
    limits: MediaLimits,
    *,
    max_files: int,
    is_op: bool,
    spoiler: bool,
    board: str | None = None,
) -> tuple[IngestedFile, ...]:
    """Spool, check, clean and store each upload. With ``board`` given, each file also goes
    through ``media.file_screen`` (the board's and the site's file bans) before it is stored."""
    if len(uploads) > max_files:
        raise InvalidInput(f"Too many files: at most {max_files} per post here.", field="upfile")
    screen = _screen_for(media, board)
    stored: list[IngestedFile] = []
    for upload in uploads:
        path = await spool_upload(upload, media.workdir, limits.max_file_bytes)
        try:
            stored.append(
                await media.ingest(path, upload.filename or "file", limits, is_op=is_op, spoiler=spoiler, screen=screen)
            )
        finally:
            await asyncio.to_thread(path.unlink, missing_ok=True)
    return tuple(stored)


def _screen_for(media: MediaService, board: str | None) -> Callable[[IngestedFile], Awaitable[None]] | None:
    check = media.file_screen
    if check is None or board is None:
        return None

    async def screen(file: IngestedFile) -> None:
        await check(board, file.sha256, file.phash)

    return screen


async def spool_upload(upload: UploadLike, workdir: Path, max_bytes: int) -> Path:
    """Copy an upload to a file of its own, refusing it as soon as it passes ``max_bytes``."""
    path = await asyncio.to_thread(_new_file, workdir)
    name = (upload.filename or "file")[:80]
    try:
        source = getattr(upload, "file", None)
        if source is not None:
            # The form parser's own copy (in memory or in a temporary file): one worker-thread
            # call copies it all, rather than a call per chunk read and per chunk written.
            written = await asyncio.to_thread(_copy_within, source, path, max_bytes)
        else:
            written = await _copy_async(upload, path, max_bytes)
        if written > max_bytes:
            raise TooLarge(
                f"The file '{name}' is too large: at most {max_bytes // MIB} MiB per file here.", field="upfile"
            )
    except OSError as error:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise storage_full() from None
        raise
    except BaseException:
        await asyncio.to_thread(path.unlink, missing_ok=True)
        raise
    return path


def _copy_within(source: BinaryIO, path: Path, max_bytes: int) -> int:
    """Copy until the end or until past ``max_bytes``; the bytes written (over the limit
    means refused)."""
    written = 0
    with path.open("wb") as out:
        while written <= max_bytes and (chunk := source.read(CHUNK)):
            written += len(chunk)
            if written <= max_bytes:
                out.write(chunk)
    return written


async def _copy_async(upload: UploadLike, path: Path, max_bytes: int) -> int:
    written = 0
    with await asyncio.to_thread(path.open, "wb") as out:
        while written <= max_bytes and (chunk := await upload.read(CHUNK)):
            written += len(chunk)
            if written <= max_bytes:
                await asyncio.to_thread(out.write, chunk)
    return written


def _new_file(workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="upload-", dir=workdir)
    os.close(handle)
    return Path(name)

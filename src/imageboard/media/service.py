"""Use cases of the media context: store an upload, attach it to a post, show it, delete it
(collecting garbage and rebuilding thumbnails are in ``media.upkeep``).

Files reach storage *before* the posting transaction commits, under content-addressed keys;
a crash in between leaves an unreferenced blob that :meth:`MediaService.gc` removes once it
is older than the grace period. The service never commits: ``attach`` and the other
``session`` methods run inside the caller's unit of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import itertools
import logging
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row

from imageboard.core.clock import utcnow
from imageboard.core.db import Database, ReadSession, TableReads, WriteSession
from imageboard.core.errors import InsufficientStorage
from imageboard.media import repository as repo
from imageboard.media.models import Attachment, MediaBlob
from imageboard.media.schemas import FileStatus, FileView, IngestedFile, MediaKind, StoredFile
from imageboard.media.storage import BlobStorage
from imageboard.media.upkeep import THUMB_MIME, MediaUpkeep, Thumbnailer

if TYPE_CHECKING:
    from imageboard.media.limits import MediaLimits
    from imageboard.media.processing import ProcessedFile

log = logging.getLogger(__name__)

PLACEHOLDER_SIZE = 100
TIM_ATTEMPTS = 8

# Per-process part of ``tim``: a counter from a random start, so two processes posting in the
# same millisecond rarely pick the same number (and the UNIQUE constraint catches it if they do).
_tim_counter = itertools.count(secrets.randbelow(1000))


# --- the processing modules (imported when first used: they load libvips) ---------------

Processor = Callable[..., "ProcessedFile"]  # process_upload's signature
FileScreen = Callable[[str, str, "int | None"], Awaitable[None]]
Screen = Callable[["IngestedFile"], Awaitable[None]]


def _default_processor(
    source: Path, client_filename: str, limits: MediaLimits, *, is_op: bool, workdir: Path, defer_video: bool = False
) -> ProcessedFile:
    from imageboard.media.processing import process_upload

    return process_upload(source, client_filename, limits, is_op=is_op, workdir=workdir, defer_video=defer_video)


def _default_thumbnailer(original: Path, kind: str, box: int, workdir: Path) -> tuple[Path, int, int] | None:
    from imageboard.media.processing import make_thumbnail

    return make_thumbnail(original, kind, box, workdir)


def storage_full() -> InsufficientStorage:
    return InsufficientStorage(
        "The server has no room left to store files, so your post was not saved. "
        "Try again later, or post without a file.",
        field="upfile",
    )


# --- the service ------------------------------------------------------------------------


class MediaService(MediaUpkeep):
    def __init__(
        self,
        db: Database,
        storage: BlobStorage,
        *,
        media_base_url: str = "/media",
        static_base_url: str = "/static",
        workdir: Path,
        clock: Callable[[], datetime] = utcnow,
        processor: Processor | None = None,
        thumbnailer: Thumbnailer | None = None,
        defer_video: bool = False,
    ) -> None:
        self.db = db
        self.storage = storage
        self.media_base_url = media_base_url.rstrip("/")
        self.static_base_url = static_base_url.rstrip("/")
        self.workdir = Path(workdir)
        self.clock = clock
        self._process: Processor = processor or _default_processor
        self._thumbnail: Thumbnailer = thumbnailer or _default_thumbnailer
        # Videos are only checked on the request path; a worker (media.tasks) finishes them.
        self.defer_video = defer_video
        # Set by the composition root (moderation's file bans): (board, sha256, phash) -> raises.
        self.file_screen: FileScreen | None = None

    # --- upload -----------------------------------------------------------------------

    async def ingest(
        self,
        upload: Path,
        client_filename: str,
        limits: MediaLimits,
        *,
        is_op: bool,
        spoiler: bool,
        screen: Screen | None = None,
    ) -> IngestedFile:
        """Check and clean an upload, store the original and its thumbnail. Raises the
        processing modules' DomainErrors for files we refuse, and whatever ``screen`` raises
        (a banned file) before anything is stored. The caller owns ``upload``."""
        await asyncio.to_thread(self.workdir.mkdir, parents=True, exist_ok=True)
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="ingest-", dir=self.workdir))
        processed: ProcessedFile | None = None
        try:
            extra = {"defer_video": True} if self.defer_video else {}
            processed = await asyncio.to_thread(
                self._process, upload, client_filename, limits, is_op=is_op, workdir=scratch, **extra
            )
            pending = bool(getattr(processed, "pending", False))
            # Processing took it from the thumbnail it rendered (media.phash), so the file is not
            # decoded again; a processor handed in (tests) need not carry one.
            perceptual: int | None = getattr(processed, "phash", None)
            box = limits.op_thumb if is_op else limits.reply_thumb
            ingested = ingested_file(processed, box=box, spoiler=spoiler, phash=perceptual, pending=pending)
            if screen is not None:
                await screen(ingested)
            await self._store(ingested.key, processed.original, processed.mime)
            if processed.thumbnail is not None and ingested.thumb_key is not None:
                await self._store(ingested.thumb_key, processed.thumbnail, THUMB_MIME)
            return ingested
        finally:
            await asyncio.to_thread(_remove_scratch, scratch, upload, processed)

    async def _store(self, key: str, path: Path, content_type: str) -> None:
        """Upload unless the same bytes are stored already; then only refresh the object's
        time, so the garbage collector's grace period protects it until our post commits."""
        if await self.storage.touch(key):
            return
        try:
            await self.storage.put_file(key, path, content_type)
        except OSError as error:
            if error.errno in (errno.ENOSPC, errno.EDQUOT):
                log.error("media storage is full: cannot store %s", key)
                raise storage_full() from None
            raise

    # --- posting (inside the caller's transaction) -------------------------------------

    async def attach(
        self,
        session: WriteSession,
        *,
        post_id: int,
        board_id: int,
        board_uri: str,
        files: Sequence[IngestedFile],
    ) -> list[FileView]:
        if not files:
            return []
        now = self.clock()
        await self._ensure_blobs(session, files, now)
        views: list[FileView] = []
        for position, file in enumerate(files):
            values = {
                "post_id": post_id,
                "board_id": board_id,
                "board_uri": board_uri,
                "position": position,
                "blob_sha256": file.sha256,
                "filename": file.filename[:255],
                "spoiler": file.spoiler,
                # While processing, thumb_width holds the box the worker is to fit.
                "thumb_width": file.pending_box if file.pending else file.thumb_width,
                "thumb_height": file.thumb_height,
                "thumb_box": file.thumb_box,
                "status": "processing" if file.pending else "ready",
                "deleted": False,
                "created_at": now,
            }
            attachment = await self._insert_attachment(session, values)
            views.append(self._view(attachment, _blob_of(file, now)))
        return views

    async def _ensure_blobs(self, session: WriteSession, files: Sequence[IngestedFile], now: datetime) -> None:
        """Make sure every blob row exists and stays until this transaction ends (a row may
        vanish between insert and lock when the garbage collector deletes it: then again)."""
        by_sha = {file.sha256: file for file in files}
        missing = sorted(by_sha)
        for _ in range(3):
            missing = sorted(await repo.ensure_blobs(session, [_blob_values(by_sha[sha], now) for sha in missing]))
            if not missing:
                return
        raise RuntimeError("media blob rows keep disappearing; is the garbage collector misconfigured?")

    async def _insert_attachment(self, session: WriteSession, values: dict[str, Any]) -> Attachment:
        """Insert with a fresh ``tim``; when another process took the same number, draw
        again. The attachment returned is not in the session: it carries the values written."""
        for _ in range(TIM_ATTEMPTS):
            tim = self._next_tim()
            if await repo.insert_attachment_unless_tim_taken(session, {**values, "tim": tim}):
                return Attachment(tim=tim, **values)
        raise RuntimeError(f"no free file number (tim) after {TIM_ATTEMPTS} draws; is the clock stuck?")

    def _next_tim(self) -> int:
        """4chan-style file number: milliseconds since the epoch, then three digits."""
        millis = int(self.clock().timestamp() * 1000)
        return millis * 1000 + next(_tim_counter) % 1000

    # --- reading ----------------------------------------------------------------------

    async def files_for_posts(self, session: TableReads, post_ids: Sequence[int]) -> dict[int, list[FileView]]:
        files: dict[int, list[FileView]] = {}
        if not post_ids:
            return files
        for row in await repo.file_records_of_posts(session, post_ids):
            files.setdefault(row.post_id, []).append(self._view(row, row))  # one row: both parts
        return files

    async def posts_with_blob(self, session: ReadSession | WriteSession, board_id: int, sha256: str) -> list[int]:
        """Posts on that board that show those bytes (not counting deleted files)."""
        return await repo.post_ids_with_blob(session, board_id, sha256)

    async def resolve(self, session: ReadSession | WriteSession, board_uri: str, tim: int) -> StoredFile | None:
        row = await repo.attachment_by_tim(session, board_uri, tim)
        # Until a worker made the clean copy, the stored bytes still carry the uploader's
        # metadata: they are never served.
        if row is None or row.attachment.status != "ready":
            return None
        a, b = row.attachment, row.blob
        return StoredFile(
            board_uri=a.board_uri,
            tim=a.tim,
            sha256=b.sha256,
            ext=b.ext,
            mime=b.mime,
            size=b.size,
            filename=a.filename,
            deleted=a.deleted,
            thumb_box=a.thumb_box,
        )

    async def find(self, board_uri: str, tim: int) -> StoredFile | None:
        """:meth:`resolve` in a read session of its own (for the routes)."""
        async with self.db.reader() as session:
            return await self.resolve(session, board_uri, tim)

    def _view(self, a: Attachment | Row[Any], b: MediaBlob | Row[Any]) -> FileView:
        base = f"{self.media_base_url}/{a.board_uri}/{a.tim}"
        kind: MediaKind = "video" if b.kind == "video" else "audio" if b.kind == "audio" else "image"
        status: FileStatus = "processing" if a.status == "processing" else "failed" if a.status == "failed" else "ready"
        # The hashes of a file not finished are those of the raw upload: not shown.
        sha256, md5_base64 = (b.sha256, b.md5_base64) if status == "ready" else ("", "")
        if status != "ready":
            thumb_url, tw, th = f"{self.static_base_url}/img/{status}.svg", PLACEHOLDER_SIZE, PLACEHOLDER_SIZE
        elif a.spoiler:
            thumb_url, tw, th = f"{self.static_base_url}/img/spoiler.png", PLACEHOLDER_SIZE, PLACEHOLDER_SIZE
        elif kind == "audio":
            thumb_url, tw, th = f"{self.static_base_url}/img/audio.png", PLACEHOLDER_SIZE, PLACEHOLDER_SIZE
        elif a.thumb_box == 0:
            thumb_url, tw, th = f"{self.static_base_url}/img/file.png", PLACEHOLDER_SIZE, PLACEHOLDER_SIZE
        else:
            thumb_url, tw, th = f"{base}s.jpg", a.thumb_width, a.thumb_height
        return FileView(
            tim=a.tim,
            filename=a.filename,
            ext=b.ext,
            kind=kind,
            mime=b.mime,
            size=b.size,
            width=b.width,
            height=b.height,
            thumb_width=tw,
            thumb_height=th,
            md5_base64=md5_base64,
            sha256=sha256,
            spoiler=a.spoiler,
            duration=b.duration,
            has_audio=b.has_audio,
            url=f"{base}{b.ext}",
            thumb_url=thumb_url,
            deleted=a.deleted,
            status=status,
        )

    # --- deleting ---------------------------------------------------------------------

    async def delete_files_of_posts(self, session: WriteSession, post_ids: Sequence[int]) -> int:
        """Mark the posts' files deleted (4chan's "delete file only"); the bytes stay until
        :meth:`gc` finds them unused. Returns how many files were newly marked."""
        if not post_ids:
            return 0
        return await repo.mark_deleted(session, post_ids)

    async def count_live_files(self, session: ReadSession | WriteSession, post_ids: Sequence[int]) -> int:
        """How many files those posts carry that were not deleted (a thread's image count)."""
        return await repo.count_live_attachments(session, post_ids) if post_ids else 0

    async def spoiler_files_of_posts(self, session: WriteSession, post_ids: Sequence[int]) -> int:
        """Show the posts' live files behind the spoiler image (a staff action). Returns how
        many files were newly spoilered; the caller marks the thread changed."""
        changed = 0
        for row in await repo.attachments_of_posts(session, post_ids) if post_ids else []:
            if not row.attachment.deleted and not row.attachment.spoiler:
                row.attachment.spoiler = True
                changed += 1
        await session.flush()
        return changed

    async def file_hashes_of_posts(
        self, session: ReadSession | WriteSession, post_ids: Sequence[int]
    ) -> list[tuple[str, int | None]]:
        """(SHA-256, perceptual hash) of each file on the posts, deleted ones too (for file bans)."""
        hashes: dict[str, int | None] = {}
        for row in await repo.attachments_of_posts(session, post_ids) if post_ids else []:
            hashes[row.blob.sha256] = int(row.blob.phash, 16) if row.blob.phash else None
        return list(hashes.items())


def _blob_values(file: IngestedFile, now: datetime) -> dict[str, Any]:
    return {
        "sha256": file.sha256,
        "md5_base64": file.md5_base64,
        "size": file.size,
        "mime": file.mime,
        "ext": file.ext,
        "kind": file.kind,
        "width": file.width,
        "height": file.height,
        "duration": file.duration,
        "has_audio": file.has_audio,
        "phash": f"{file.phash:016x}" if file.phash is not None else None,
        "created_at": now,
    }


def _blob_of(file: IngestedFile, now: datetime) -> MediaBlob:
    return MediaBlob(**_blob_values(file, now))


def _remove_scratch(scratch: Path, upload: Path, processed: ProcessedFile | None) -> None:
    """Delete what processing wrote (the caller owns ``upload`` itself)."""
    if processed is not None:
        for path in (processed.original, processed.thumbnail):
            if path is not None and path.resolve() != upload.resolve():
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
    shutil.rmtree(scratch, ignore_errors=True)


def ingested_file(
    processed: ProcessedFile, *, box: int, spoiler: bool, phash: int | None, pending: bool = False
) -> IngestedFile:
    """What ingest hands the posting transaction for a processed upload (and what the worker
    swaps in when it finishes a video posted as "processing")."""
    has_thumb = processed.thumbnail is not None
    return IngestedFile(
        sha256=processed.sha256,
        md5_base64=processed.md5_base64,
        size=processed.size,
        mime=processed.mime,
        ext=processed.ext,
        kind=processed.kind,
        width=processed.width,
        height=processed.height,
        duration=processed.duration,
        has_audio=processed.has_audio,
        filename=processed.filename,
        spoiler=spoiler,
        thumb_box=box if has_thumb else 0,
        thumb_width=processed.thumb_width if has_thumb else 0,
        thumb_height=processed.thumb_height if has_thumb else 0,
        phash=phash,
        pending=pending,
        pending_box=box if pending else 0,
    )

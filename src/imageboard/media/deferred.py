"""Finishing videos in the background: the worker's half of a video upload.

The request checked the video and stored it as uploaded, with its attachment in state
``processing`` (see :meth:`MediaService.ingest` with ``defer_video``). A worker then

1. *claims* waiting files: a lease (``claimed_until``) in a short transaction, so however many
   workers run, each file is worked on by one at a time; every claim counts an attempt;
2. downloads the upload, makes the metadata-free copy and the thumbnail (``finish_video``)
   and stores them under their content-addressed keys (idempotent: same bytes, same keys);
3. swaps them in and marks the file ``ready`` in one transaction — conditional on the file
   still waiting, so a second finisher changes nothing — and lets the caller record its event
   in that same transaction.

A file that is broken (the copy or the decode fails), whose upload is gone, or that has used
up its attempts is marked ``failed``: shown as such, never an error page. Anything else (the
storage or the database away) gives the lease back and raises, so the job is retried.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from imageboard.core.db import WriteSession
from imageboard.core.errors import DomainError
from imageboard.media import repository as repo
from imageboard.media.limits import MediaLimits
from imageboard.media.schemas import FileView
from imageboard.media.service import MediaService, ingested_file
from imageboard.media.storage import BlobNotFound, original_key
from imageboard.media.upkeep import THUMB_MIME

if TYPE_CHECKING:
    from imageboard.media.processing import ProcessedFile

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(minutes=10)  # well above the ffmpeg timeouts of one file (~3.5 min)
DEFAULT_ATTEMPTS = 3

Finisher = Callable[[Path, MediaLimits, int, Path], "ProcessedFile"]  # finish_video's signature


def _default_finisher(original: Path, limits: MediaLimits, box: int, workdir: Path) -> ProcessedFile:
    from imageboard.media.processing import finish_video

    return finish_video(original, limits, box, workdir)


@dataclass(frozen=True, slots=True)
class Finished:
    """A file a worker finished (or gave up on), as it is now shown."""

    attachment_id: int
    post_id: int
    board_uri: str
    tim: int
    status: Literal["ready", "failed"]
    file: FileView
    reason: str = ""


Announce = Callable[[WriteSession, Finished], None]


@dataclass(frozen=True, slots=True)
class _Claim:
    attachment_id: int
    post_id: int
    board_uri: str
    tim: int
    sha256: str
    ext: str
    box: int
    attempts: int


class VideoFinisher:
    def __init__(
        self,
        media: MediaService,
        limits: MediaLimits,
        *,
        lease: timedelta = DEFAULT_LEASE,
        max_attempts: int = DEFAULT_ATTEMPTS,
        finisher: Finisher | None = None,
    ) -> None:
        self.media = media
        self.limits = limits
        self.lease = lease
        self.max_attempts = max_attempts
        self._finish: Finisher = finisher or _default_finisher

    async def run(
        self, *, board_uri: str | None = None, limit: int = 4, announce: Announce | None = None
    ) -> list[Finished]:
        """Claim up to ``limit`` waiting files (of one board, or all) and finish them. When one
        fails for a passing reason the others are still done, then the first error is raised."""
        claims = await self._claim(board_uri, limit)
        done: list[Finished] = []
        failure: Exception | None = None
        for claim in claims:
            try:
                finished = await self._finish_one(claim, announce)
            except Exception as exc:
                failure = failure or exc
                await self._release(claim)
                continue
            if finished is not None:
                done.append(finished)
        if failure is not None:
            raise failure
        return done

    async def _claim(self, board_uri: str | None, limit: int) -> list[_Claim]:
        # Most posts with files have none waiting (pictures are finished while posting): ask
        # first, so they cost no write transaction — on SQLite, no turn at the single writer.
        async with self.media.db.reader(primary=True) as session:
            if not await repo.has_processing(session, board_uri=board_uri):
                return []
        now = self.media.clock()
        async with self.media.db.writer() as session:
            rows = await repo.claim_processing(
                session, now=now, lease_until=now + self.lease, board_uri=board_uri, limit=limit
            )
            return [
                _Claim(
                    attachment_id=row.attachment.id,
                    post_id=row.attachment.post_id,
                    board_uri=row.attachment.board_uri,
                    tim=row.attachment.tim,
                    sha256=row.blob.sha256,
                    ext=row.blob.ext,
                    # While processing, thumb_width holds the box to fit (MediaService.attach).
                    box=row.attachment.thumb_width or self.limits.reply_thumb,
                    attempts=row.attachment.process_attempts,
                )
                for row in rows
            ]

    async def _release(self, claim: _Claim) -> None:
        try:
            async with self.media.db.writer() as session:
                await repo.release_processing(session, claim.attachment_id)
        except Exception:  # the database is away: the lease runs out instead
            log.warning("could not give back the lease on file %s", claim.tim, exc_info=True)

    async def _finish_one(self, claim: _Claim, announce: Announce | None) -> Finished | None:
        if claim.attempts > self.max_attempts:
            return await self._fail(claim, announce, f"gave up after {claim.attempts - 1} attempts")
        workdir = self.media.workdir
        await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="finish-", dir=workdir))
        try:
            upload = scratch / f"upload{claim.ext}"
            try:
                await self.media.storage.download(original_key(claim.sha256, claim.ext), upload)
            except BlobNotFound:
                return await self._fail(claim, announce, "the uploaded file is missing from storage")
            try:
                processed = await asyncio.to_thread(self._finish, upload, self.limits, claim.box, scratch)
            except DomainError as error:
                return await self._fail(claim, announce, error.message)
            # The hash comes from the thumbnail just made: file bans can match the video now.
            clean = ingested_file(processed, box=claim.box, spoiler=False, phash=processed.phash)
            await self.media._store(clean.key, processed.original, processed.mime)
            if processed.thumbnail is not None and clean.thumb_key is not None:
                await self.media._store(clean.thumb_key, processed.thumbnail, THUMB_MIME)
            async with self.media.db.writer() as session:
                await self.media._ensure_blobs(session, [clean], self.media.clock())
                swapped = await repo.finish_processing(
                    session,
                    claim.attachment_id,
                    blob_sha256=clean.sha256,
                    thumb_box=clean.thumb_box,
                    thumb_width=clean.thumb_width,
                    thumb_height=clean.thumb_height,
                )
                if not swapped:
                    return None  # finished by another worker, or its post is gone
                return await self._settled(session, claim, "ready", "", announce)
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)

    async def _fail(self, claim: _Claim, announce: Announce | None, reason: str) -> Finished | None:
        log.warning("media: video %s/%s could not be processed: %s", claim.board_uri, claim.tim, reason)
        async with self.media.db.writer() as session:
            if not await repo.fail_processing(session, claim.attachment_id):
                return None
            return await self._settled(session, claim, "failed", reason, announce)

    async def _settled(
        self,
        session: WriteSession,
        claim: _Claim,
        status: Literal["ready", "failed"],
        reason: str,
        announce: Announce | None,
    ) -> Finished | None:
        row = await repo.attachment_by_id(session, claim.attachment_id)
        if row is None:
            return None
        finished = Finished(
            attachment_id=claim.attachment_id,
            post_id=claim.post_id,
            board_uri=claim.board_uri,
            tim=claim.tim,
            status=status,
            file=self.media._view(row.attachment, row.blob),
            reason=reason,
        )
        if announce is not None:
            announce(session, finished)
        return finished

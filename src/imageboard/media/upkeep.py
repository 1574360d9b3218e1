"""Upkeep of the media context: collecting garbage (blobs and rows no post uses, scratch
left by crashed uploads) and rebuilding thumbnails. ``MediaService`` inherits these; they run
from the CLI (``imageboard media gc``, ``media rebuild-thumbnails``) and the periodic tasks,
never on a request path.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from imageboard.core.db import Database
from imageboard.core.errors import DomainError
from imageboard.media import repository as repo
from imageboard.media.storage import BlobNotFound, BlobStorage, ParsedKey, original_key, parse_key, thumbnail_key

log = logging.getLogger(__name__)

THUMB_MIME = "image/jpeg"
GC_BATCH = 500

# make_thumbnail's signature: (original, kind, box, workdir) -> (path, width, height) or None
Thumbnailer = Callable[[Path, str, int, Path], "tuple[Path, int, int] | None"]


class MediaUpkeep:
    """What the upkeep needs of the service (set by ``MediaService.__init__``)."""

    db: Database
    storage: BlobStorage
    workdir: Path
    clock: Callable[[], datetime]
    _thumbnail: Thumbnailer

    # --- garbage collection -----------------------------------------------------------

    async def gc(self, *, grace: timedelta) -> list[str]:
        """Remove stored originals and thumbnails no live attachment uses and that were not
        written or touched within ``grace``, then the blob rows nothing points at. Returns
        the removed storage keys."""
        if grace < timedelta(0):
            raise ValueError("the grace period cannot be negative")
        cutoff = self.clock() - grace
        removed: list[str] = []
        for prefix in ("src/", "thumb/"):
            batch: list[tuple[str, ParsedKey]] = []
            async for key, modified in self.storage.list_keys(prefix):
                parsed = parse_key(key)
                if parsed is None or modified >= cutoff:
                    continue
                batch.append((key, parsed))
                if len(batch) >= GC_BATCH:
                    removed.extend(await self._collect(batch, cutoff))
                    batch = []
            if batch:
                removed.extend(await self._collect(batch, cutoff))
        # Half-written objects of a process killed while storing (local disk only).
        sweep = getattr(self.storage, "remove_stale_temporaries", None)
        if sweep is not None:
            removed.extend(await sweep(cutoff))
        await self._collect_rows(cutoff)
        if removed:
            log.info("media gc removed %d objects", len(removed))
        return removed

    async def sweep_scratch(self, *, grace: timedelta) -> list[str]:
        """Remove what uploads cut short by a crash left in the work directory (spooled
        uploads, processing scratch) once nothing in it changed for ``grace``. Returns the
        names removed. A running upload keeps touching its files, so only dead ones go."""
        if grace < timedelta(0):
            raise ValueError("the grace period cannot be negative")
        cutoff = (self.clock() - grace).timestamp()
        return await asyncio.to_thread(_sweep_directory, self.workdir, cutoff)

    async def _collect(self, batch: list[tuple[str, ParsedKey]], cutoff: datetime) -> list[str]:
        originals = [p.sha256 for _, p in batch if p.box is None]
        thumbs = [(p.sha256, p.box) for _, p in batch if p.box is not None]
        # On the primary, not a replica: a lagging replica could miss a reference.
        async with self.db.writer() as session:
            live_originals = await repo.live_originals(session, originals)
            live_thumbs = await repo.live_thumbnails(session, thumbs)
        removed: list[str] = []
        for key, parsed in batch:
            used = parsed.sha256 in live_originals if parsed.box is None else (parsed.sha256, parsed.box) in live_thumbs
            if used:
                continue
            # Look again right before deleting: an upload of the same bytes may have touched
            # the object since we listed it, for a post that is committing now.
            try:
                if await self.storage.last_modified(key) >= cutoff:
                    continue
            except BlobNotFound:
                continue
            await self.storage.delete(key)
            removed.append(key)
        return removed

    async def _collect_rows(self, cutoff: datetime) -> None:
        while True:
            async with self.db.reader() as session:
                shas = await repo.orphan_blob_shas(session, cutoff, limit=GC_BATCH)
            if not shas:
                return
            try:
                async with self.db.writer() as session:
                    deleted = await repo.delete_orphan_blobs(session, shas, cutoff)
            except IntegrityError:  # a post took one of them in the meantime: try next run
                log.info("media gc: a blob row came back into use; leaving it")
                return
            if len(deleted) < len(shas):
                return  # the rest came back into use; nothing more to do this run

    # --- thumbnails -------------------------------------------------------------------

    async def rebuild_thumbnails(
        self, *, board_uri: str | None = None, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Make every live attachment's thumbnail again from its stored original (after a
        change of thumbnail settings or library). Returns how many thumbnails were written."""
        async with self.db.reader() as session:
            total = await repo.count_thumbnail_targets(session, board_uri)
        done = written = 0
        after: tuple[str, int] | None = None
        await asyncio.to_thread(self.workdir.mkdir, parents=True, exist_ok=True)
        while True:
            async with self.db.reader() as session:
                page = await repo.thumbnail_targets(session, board_uri, after=after, limit=100)
            if not page:
                break
            for sha, box, ext, kind in page:
                if await self._rebuild_one(sha, box, ext, kind):
                    written += 1
                done += 1
                if progress is not None:
                    progress(done, total)
            after = (page[-1][0], page[-1][1])
        return written

    async def _rebuild_one(self, sha256: str, box: int, ext: str, kind: str) -> bool:
        scratch = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="thumb-", dir=self.workdir))
        try:
            original = scratch / f"original{ext}"
            try:
                await self.storage.download(original_key(sha256, ext), original)
            except BlobNotFound:
                log.warning("media: original of %s is missing from storage; thumbnail not rebuilt", sha256)
                return False
            try:
                made = await asyncio.to_thread(self._thumbnail, original, kind, box, scratch)
            except DomainError as error:  # a stored file the current decoder refuses: keep the old thumbnail
                log.warning("media: thumbnail of %s not rebuilt: %s", sha256, error.message)
                return False
            if made is None:
                return False
            path, width, height = made
            await self.storage.put_file(thumbnail_key(sha256, box), path, THUMB_MIME)
            async with self.db.writer() as session:
                await repo.set_thumbnail_size(session, sha256, box, width, height)
            return True
        finally:
            await asyncio.to_thread(shutil.rmtree, scratch, True)


def _newest_change(entry: Path) -> float:
    newest = entry.lstat().st_mtime
    if entry.is_dir() and not entry.is_symlink():
        for inner in entry.rglob("*"):
            with contextlib.suppress(FileNotFoundError):
                newest = max(newest, inner.lstat().st_mtime)
    return newest


def _sweep_directory(directory: Path, cutoff: float) -> list[str]:
    if not directory.is_dir():
        return []
    removed: list[str] = []
    for entry in sorted(directory.iterdir()):
        try:
            if _newest_change(entry) >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        except FileNotFoundError:
            continue
        removed.append(entry.name)
    return removed

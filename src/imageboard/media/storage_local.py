"""Files on local disk under one root directory: the embedded default.

Writes go to a hidden temporary file in the target directory and are moved into place with
``os.replace``, so a reader never sees a half-written object. Blocking file calls run in
worker threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from imageboard.media.storage import CHUNK_SIZE, BlobNotFound, InvalidKey, check_key, check_prefix

TEMP_PREFIX = ".tmp-"


class LocalStorage:
    def __init__(self, root: Path | str, *, fsync: bool = True) -> None:
        self.root = Path(root).expanduser().resolve()
        self.fsync = fsync

    # --- paths ----------------------------------------------------------------------------

    def path_for(self, key: str) -> Path:
        """The file of ``key``; refuses anything that would land outside the root."""
        check_key(key)
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise InvalidKey(f"storage key escapes the root: {key!r}")
        return path

    # --- writes ---------------------------------------------------------------------------

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        target = self.path_for(key)
        await asyncio.to_thread(self._put, target, path)

    def _put(self, target: Path, source: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f"{TEMP_PREFIX}{secrets.token_hex(8)}-{target.name}")
        try:
            if not self._link(source, temp):
                with source.open("rb") as reader, temp.open("xb") as writer:
                    while chunk := reader.read(CHUNK_SIZE):
                        writer.write(chunk)
            if self.fsync:
                with temp.open("rb") as written:
                    os.fsync(written.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        if self.fsync:
            self._fsync_dir(target.parent)

    @staticmethod
    def _link(source: Path, temp: Path) -> bool:
        """Give the source's bytes a second name instead of copying them (uploads are
        processed in scratch files on the same disk, and those are never written again).
        False where a hard link cannot be made (another file system, no link support)."""
        try:
            os.link(source, temp)
        except OSError:
            return False
        # Stored objects are public files, served by a web server that may run as another
        # user; scratch files are private to this one.
        os.chmod(temp, 0o644)
        return True

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        try:
            fd = os.open(directory, os.O_RDONLY)
        except OSError:  # not every platform opens directories
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    async def touch(self, key: str) -> bool:
        path = self.path_for(key)

        def run() -> bool:
            try:
                os.utime(path)
            except FileNotFoundError:
                return False
            return True

        return await asyncio.to_thread(run)

    async def delete(self, key: str) -> None:
        path = self.path_for(key)

        def run() -> None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

        await asyncio.to_thread(run)

    # --- reads ----------------------------------------------------------------------------

    async def exists(self, key: str) -> bool:
        path = self.path_for(key)
        return await asyncio.to_thread(path.is_file)

    async def size(self, key: str) -> int:
        path = self.path_for(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return stat.st_size

    async def last_modified(self, key: str) -> datetime:
        path = self.path_for(key)
        try:
            stat = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return datetime.fromtimestamp(stat.st_mtime, UTC)

    async def open_range(self, key: str, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.path_for(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except (FileNotFoundError, IsADirectoryError):
            raise BlobNotFound(key) from None
        return self._stream(handle, start, end)

    @staticmethod
    async def _stream(handle: BinaryIO, start: int | None, end: int | None) -> AsyncIterator[bytes]:
        try:
            position = max(start or 0, 0)
            if position:
                await asyncio.to_thread(handle.seek, position)
            while end is None or position < end:
                want = CHUNK_SIZE if end is None else min(CHUNK_SIZE, end - position)
                chunk = await asyncio.to_thread(handle.read, want)
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        finally:
            handle.close()

    async def download(self, key: str, dest: Path) -> None:
        source = self.path_for(key)

        def run() -> None:
            try:
                reader = source.open("rb")
            except FileNotFoundError:
                raise BlobNotFound(key) from None
            with reader, dest.open("wb") as writer:
                while chunk := reader.read(CHUNK_SIZE):
                    writer.write(chunk)

        await asyncio.to_thread(run)

    async def list_keys(self, prefix: str = "") -> AsyncIterator[tuple[str, datetime]]:
        check_prefix(prefix)
        # Walk only the directory the prefix names, then filter by the full prefix.
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        walker = os.walk(start)
        while (batch := await asyncio.to_thread(self._next_batch, walker, prefix)) is not None:
            for item in batch:
                yield item

    def _next_batch(
        self, walker: Iterator[tuple[str, list[str], list[str]]], prefix: str
    ) -> list[tuple[str, datetime]] | None:
        """One directory's worth of keys (blocking; run in a thread)."""
        try:
            directory, subdirs, files = next(walker)
        except StopIteration:
            return None
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        found: list[tuple[str, datetime]] = []
        base = Path(directory)
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = base / name
            key = path.relative_to(self.root).as_posix()
            if not key.startswith(prefix):
                continue
            try:
                modified = path.stat().st_mtime
            except FileNotFoundError:  # deleted while we walked
                continue
            found.append((key, datetime.fromtimestamp(modified, UTC)))
        return found

    def public_url(self, key: str) -> str | None:
        return None

    # --- after a crash --------------------------------------------------------------------

    async def remove_stale_temporaries(self, older_than: datetime) -> list[str]:
        """Delete half-written files (``.tmp-*``) that a process killed in the middle of
        :meth:`put_file` left behind, once older than ``older_than``; listings never show
        them, so the garbage collector asks for this. Returns their paths under the root."""
        cutoff = older_than.timestamp()

        def run() -> list[str]:
            removed: list[str] = []
            for directory, _subdirs, files in os.walk(self.root):
                for name in files:
                    if not name.startswith(TEMP_PREFIX):
                        continue
                    path = Path(directory) / name
                    try:
                        if path.stat().st_mtime >= cutoff:
                            continue
                        path.unlink()
                    except FileNotFoundError:
                        continue
                    removed.append(path.relative_to(self.root).as_posix())
            return removed

        return await asyncio.to_thread(run)

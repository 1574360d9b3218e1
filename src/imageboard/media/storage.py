"""Where the bytes of files live: one small port, two adapters (local disk, S3-compatible).

Keys are content-addressed, so an object under a key never changes meaning: an original is
``src/{sha256[:2]}/{sha256}{ext}``, a thumbnail ``thumb/{sha256[:2]}/{sha256}-{box}.jpg``.
Writing the same key twice writes the same bytes; the last writer wins atomically.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from imageboard.config import Settings

CHUNK_SIZE = 256 * 1024
MAX_KEY_LENGTH = 512

# Each segment starts with a letter or digit, so no key can be ".." or collide with the
# adapters' hidden temporary names (which start with a dot).
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_EXT = re.compile(r"\.[a-z0-9]{1,8}")
_ORIGINAL_KEY = re.compile(r"src/([0-9a-f]{2})/([0-9a-f]{64})(\.[a-z0-9]{1,8})")
_THUMB_KEY = re.compile(r"thumb/([0-9a-f]{2})/([0-9a-f]{64})-([0-9]{1,5})\.jpg")


class StorageError(Exception):
    """The storage backend failed (unreachable, refused, misconfigured)."""


class BlobNotFound(LookupError):
    """No object under that key."""


class InvalidKey(ValueError):
    """A key that is not a clean relative path of safe characters."""


def check_key(key: str) -> str:
    """Return ``key`` if it is safe to hand to any adapter; raise :class:`InvalidKey` otherwise."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"bad storage key length: {len(key)}")
    for segment in key.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise InvalidKey(f"bad storage key: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-like string (the last segment may be partial)."""
    if prefix == "":
        return prefix
    head, _, tail = prefix.rpartition("/")
    if head:
        check_key(head)
    if tail and not _SEGMENT.fullmatch(tail):
        raise InvalidKey(f"bad storage prefix: {prefix!r}")
    return prefix


def original_key(sha256: str, ext: str) -> str:
    if not _SHA256.fullmatch(sha256) or not _EXT.fullmatch(ext):
        raise InvalidKey(f"bad original key parts: {sha256!r} {ext!r}")
    return f"src/{sha256[:2]}/{sha256}{ext}"


def thumbnail_key(sha256: str, box: int) -> str:
    if not _SHA256.fullmatch(sha256) or not 0 < box < 100_000:
        raise InvalidKey(f"bad thumbnail key parts: {sha256!r} {box!r}")
    return f"thumb/{sha256[:2]}/{sha256}-{box}.jpg"


@dataclass(frozen=True, slots=True)
class ParsedKey:
    sha256: str
    ext: str | None  # originals
    box: int | None  # thumbnails

    @property
    def is_thumbnail(self) -> bool:
        return self.box is not None


def parse_key(key: str) -> ParsedKey | None:
    """The blob a key belongs to, or None for a key this context did not write."""
    if match := _ORIGINAL_KEY.fullmatch(key):
        if match.group(1) == match.group(2)[:2]:
            return ParsedKey(sha256=match.group(2), ext=match.group(3), box=None)
        return None
    if (match := _THUMB_KEY.fullmatch(key)) and match.group(1) == match.group(2)[:2]:
        return ParsedKey(sha256=match.group(2), ext=None, box=int(match.group(3)))
    return None


@runtime_checkable
class BlobStorage(Protocol):
    """The port. Every method is safe to call concurrently."""

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        """Store the file at ``path`` under ``key``, atomically: readers see the old object, no
        object, or the whole new one — never a part."""

    async def touch(self, key: str) -> bool:
        """Refresh the object's last-modified time (so the garbage collector's grace period
        starts again). False when there is no such object."""

    async def exists(self, key: str) -> bool: ...

    async def size(self, key: str) -> int:
        """Bytes of the object; :class:`BlobNotFound` when missing."""

    async def last_modified(self, key: str) -> datetime:
        """When the object was last written or touched (UTC); :class:`BlobNotFound` when missing."""

    async def open_range(self, key: str, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        """Open the object and return an iterator over its bytes ``[start, end)`` (``end``
        exclusive, like a slice; None means the beginning / the end). The object is opened
        before this returns, so a missing key raises :class:`BlobNotFound` here, not while
        streaming."""

    async def download(self, key: str, dest: Path) -> None:
        """Copy the object to a local file (for jobs that need a path, like thumbnailing)."""

    async def delete(self, key: str) -> None:
        """Remove the object; no error when it is already gone."""

    def list_keys(self, prefix: str = "") -> AsyncIterator[tuple[str, datetime]]:
        """Every key starting with ``prefix`` and its last-modified time (UTC), in no promised order."""

    def public_url(self, key: str) -> str | None:
        """Where clients can fetch the object directly (a CDN or bucket URL), or None to have
        the application serve it."""


def make_storage(kind: Literal["local", "s3"], **options: Any) -> BlobStorage:
    """Build the adapter chosen by settings. ``local``: ``root``. ``s3``: ``bucket``,
    ``endpoint_url``, ``region``, ``access_key``, ``secret_key``, ``public_base_url``,
    ``key_prefix``. The S3 adapter (and boto3) is imported only when chosen."""
    if kind == "local":
        from imageboard.media.storage_local import LocalStorage

        return LocalStorage(**options)
    if kind == "s3":
        from imageboard.media.storage_s3 import S3Storage

        return S3Storage(**options)
    raise ValueError(f"unknown media storage {kind!r}: use 'local' or 's3'")


def storage_from_settings(settings: Settings) -> BlobStorage:
    """The media storage the settings choose: S3 when ``IMAGEBOARD_MEDIA_STORAGE=s3``, else the
    local directory. One place, so the site, the worker and the CLI always agree."""
    if settings.media_storage == "s3":
        if not settings.s3_bucket:
            raise ValueError("IMAGEBOARD_MEDIA_STORAGE=s3 needs IMAGEBOARD_S3_BUCKET")
        return make_storage(
            "s3",
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region or None,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
            public_base_url=settings.s3_public_base_url or None,
            key_prefix=settings.s3_key_prefix,
        )
    return make_storage("local", root=settings.media_root or settings.data_dir / "media")

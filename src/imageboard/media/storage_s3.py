"""Objects in an S3-compatible bucket (AWS S3, MinIO, Ceph, R2, Garage, ...).

boto3 is synchronous; every call runs in a worker thread (the client is thread-safe). boto3
is imported when this adapter is built, never by the embedded default. An S3 PUT (or a
multipart upload's completion) is atomic: readers never see a part of an object.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from imageboard.media.storage import CHUNK_SIZE, BlobNotFound, StorageError, check_key, check_prefix

IMMUTABLE = "public, max-age=31536000, immutable"
_MISSING = {"404", "NoSuchKey", "NotFound"}
_KEY_PREFIX = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]*/)*")


class S3Storage:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        public_base_url: str | None = None,
        key_prefix: str = "",
        path_style: bool = True,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_connections: int = 32,
    ) -> None:
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]
        from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

        if not bucket:
            raise ValueError("the S3 storage needs a bucket name")
        if not _KEY_PREFIX.fullmatch(key_prefix):
            raise ValueError(f"bad S3 key prefix {key_prefix!r}: segments ending in '/', e.g. 'media/'")
        self.bucket = bucket
        self.key_prefix = key_prefix
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._client_error: type[Exception] = ClientError
        self._boto_error: type[Exception] = BotoCoreError
        self._transfer = TransferConfig(multipart_threshold=16 * 1024 * 1024, max_concurrency=4)
        self._client: Any = _session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            config=Config(
                s3={"addressing_style": "path" if path_style else "auto"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                max_pool_connections=max_connections,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    # --- helpers --------------------------------------------------------------------------

    def _name(self, key: str) -> str:
        return self.key_prefix + check_key(key)

    def _is_missing(self, error: Exception) -> bool:
        if not isinstance(error, self._client_error):
            return False
        response: dict[str, Any] = getattr(error, "response", {})
        return str(response.get("Error", {}).get("Code", "")) in _MISSING

    def _code(self, error: Exception) -> str:
        response: dict[str, Any] = getattr(error, "response", {})
        return str(response.get("Error", {}).get("Code", ""))

    async def _call(self, key: str, method: str, **kwargs: Any) -> Any:
        """One client call in a thread; a missing object becomes BlobNotFound, any other
        backend failure StorageError."""
        try:
            return await asyncio.to_thread(getattr(self._client, method), **kwargs)
        except (self._client_error, self._boto_error) as error:
            if self._is_missing(error):
                raise BlobNotFound(key) from None
            raise StorageError(f"S3 {method} of {key!r} failed: {error}") from error

    # --- writes ---------------------------------------------------------------------------

    async def put_file(self, key: str, path: Path, content_type: str) -> None:
        name = self._name(key)

        def run() -> None:
            with path.open("rb") as body:
                self._client.upload_fileobj(
                    body,
                    self.bucket,
                    name,
                    ExtraArgs={"ContentType": content_type, "CacheControl": IMMUTABLE},
                    Config=self._transfer,
                )

        try:
            await asyncio.to_thread(run)
        except (self._client_error, self._boto_error) as error:
            raise StorageError(f"S3 upload of {key!r} failed: {error}") from error

    async def touch(self, key: str) -> bool:
        name = self._name(key)
        try:
            head = await self._call(key, "head_object", Bucket=self.bucket, Key=name)
            # Copying an object onto itself with new metadata gives it a new last-modified time.
            await self._call(
                key,
                "copy_object",
                Bucket=self.bucket,
                Key=name,
                CopySource={"Bucket": self.bucket, "Key": name},
                MetadataDirective="REPLACE",
                ContentType=head.get("ContentType") or "application/octet-stream",
                CacheControl=head.get("CacheControl") or IMMUTABLE,
                Metadata=head.get("Metadata") or {},
            )
        except BlobNotFound:
            return False
        return True

    async def delete(self, key: str) -> None:
        with contextlib.suppress(BlobNotFound):
            await self._call(key, "delete_object", Bucket=self.bucket, Key=self._name(key))

    # --- reads ----------------------------------------------------------------------------

    async def exists(self, key: str) -> bool:
        try:
            await self._call(key, "head_object", Bucket=self.bucket, Key=self._name(key))
        except BlobNotFound:
            return False
        return True

    async def size(self, key: str) -> int:
        head = await self._call(key, "head_object", Bucket=self.bucket, Key=self._name(key))
        return int(head["ContentLength"])

    async def last_modified(self, key: str) -> datetime:
        head = await self._call(key, "head_object", Bucket=self.bucket, Key=self._name(key))
        return _utc(head["LastModified"])

    async def open_range(self, key: str, start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
        name = self._name(key)
        first = max(start or 0, 0)
        if end is not None and end <= first:
            await self.size(key)  # still refuse a missing key
            return _empty()
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": name}
        if first or end is not None:
            kwargs["Range"] = f"bytes={first}-{'' if end is None else end - 1}"
        try:
            response = await asyncio.to_thread(self._client.get_object, **kwargs)
        except (self._client_error, self._boto_error) as error:
            if self._is_missing(error):
                raise BlobNotFound(key) from None
            if self._code(error) == "InvalidRange":  # start past the end: nothing to read
                return _empty()
            raise StorageError(f"S3 read of {key!r} failed: {error}") from error
        return _stream(response["Body"])

    async def download(self, key: str, dest: Path) -> None:
        await self._call(
            key, "download_file", Bucket=self.bucket, Key=self._name(key), Filename=str(dest), Config=self._transfer
        )

    async def list_keys(self, prefix: str = "") -> AsyncIterator[tuple[str, datetime]]:
        check_prefix(prefix)
        paginator = self._client.get_paginator("list_objects_v2")
        pages: Iterator[dict[str, Any]] = iter(paginator.paginate(Bucket=self.bucket, Prefix=self.key_prefix + prefix))
        while True:
            try:
                page = await asyncio.to_thread(next, pages, None)
            except (self._client_error, self._boto_error) as error:
                raise StorageError(f"S3 listing of {prefix!r} failed: {error}") from error
            if page is None:
                return
            for item in page.get("Contents", []):
                name: str = item["Key"]
                modified: datetime = item["LastModified"]
                key = name[len(self.key_prefix) :]
                yield key, _utc(modified)

    def public_url(self, key: str) -> str | None:
        if self.public_base_url is None:
            return None
        return f"{self.public_base_url}/{self._name(key)}"


@functools.cache
def _session() -> Any:
    """One boto3 session per process: it caches the service models, so building a client
    costs little after the first (sessions are not thread-safe; clients are built on the
    event loop's thread only)."""
    import boto3  # type: ignore[import-untyped]

    return boto3.session.Session()


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


async def _empty() -> AsyncIterator[bytes]:
    return
    yield b""  # pragma: no cover  (makes this an async generator)


async def _stream(body: Any) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(body.read, CHUNK_SIZE):
            yield chunk
    finally:
        body.close()

"""One suite, every adapter: local disk and S3 (against a real S3-protocol server)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path, PosixPath
from typing import Any

import pytest

from imageboard.media.storage import BlobNotFound, BlobStorage, InvalidKey, StorageError, original_key, thumbnail_key

SHA = hashlib.sha256(b"one").hexdigest()
OTHER = hashlib.sha256(b"two").hexdigest()
KEY = original_key(SHA, ".png")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def _read(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def _keys(storage: BlobStorage, prefix: str = "") -> dict[str, datetime]:
    return {key: modified async for key, modified in storage.list_keys(prefix)}


class _FailingReader:
    """A file that breaks after ``limit`` bytes, as a dying disk or a cut pipe would."""

    def __init__(self, inner: Any, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def read(self, size: int = -1) -> bytes:
        chunk: bytes = self._inner.read(size)
        if self._inner.tell() > self._limit:
            raise OSError("the source broke mid-way")
        return chunk

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __enter__(self) -> _FailingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.close()


class FailingPath(PosixPath):
    fail_after = 64 * 1024

    def open(self, mode: str = "r", *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return _FailingReader(super().open(mode, *args, **kwargs), self.fail_after)


def _copy_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local storage links a source on its own disk instead of reading it; a source on
    another disk is copied, and copying is what can break mid-way."""

    def cross_device(*_args: object, **_kwargs: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)


async def test_put_then_read_back(storage: BlobStorage, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    await storage.put_file(KEY, _write(tmp_path / "a.png", data), "image/png")
    assert await storage.exists(KEY)
    assert await storage.size(KEY) == len(data)
    assert await _read(await storage.open_range(KEY)) == data
    await storage.download(KEY, tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == data
    modified = await storage.last_modified(KEY)
    assert modified.tzinfo is not None
    assert abs(modified - datetime.now(UTC)) < timedelta(minutes=5)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (0, 10, slice(0, 10)),
        (5, None, slice(5, None)),
        (None, 7, slice(0, 7)),
        (999_990, 1_000_000, slice(999_990, 1_000_000)),
        (999_990, 2_000_000, slice(999_990, None)),
        (300_000, 300_001, slice(300_000, 300_001)),
        (1_000_000, None, slice(0, 0)),
        (5_000_000, 5_000_010, slice(0, 0)),
        (10, 10, slice(0, 0)),
    ],
)
async def test_ranges(
    storage: BlobStorage, tmp_path: Path, start: int | None, end: int | None, expected: slice
) -> None:
    data = os.urandom(1_000_000)
    await storage.put_file(KEY, _write(tmp_path / "a", data), "application/octet-stream")
    assert await _read(await storage.open_range(KEY, start, end)) == data[expected]


async def test_missing_keys(storage: BlobStorage, tmp_path: Path) -> None:
    assert not await storage.exists(KEY)
    assert not await storage.touch(KEY)
    with pytest.raises(BlobNotFound):
        await storage.size(KEY)
    with pytest.raises(BlobNotFound):
        await storage.last_modified(KEY)
    with pytest.raises(BlobNotFound):
        await storage.open_range(KEY)  # raised on open, before any byte is streamed
    with pytest.raises(BlobNotFound):
        await storage.open_range(KEY, 5, 5)
    with pytest.raises(BlobNotFound):
        await storage.download(KEY, tmp_path / "nothing")
    await storage.delete(KEY)  # deleting what is not there is fine
    assert await _keys(storage) == {}


async def test_overwrite_and_delete(storage: BlobStorage, tmp_path: Path) -> None:
    await storage.put_file(KEY, _write(tmp_path / "a", b"first"), "image/png")
    await storage.put_file(KEY, _write(tmp_path / "b", b"second!"), "image/png")
    assert await _read(await storage.open_range(KEY)) == b"second!"
    await storage.delete(KEY)
    assert not await storage.exists(KEY)
    await storage.delete(KEY)
    assert await _keys(storage) == {}


async def test_empty_file(storage: BlobStorage, tmp_path: Path) -> None:
    await storage.put_file(KEY, _write(tmp_path / "empty", b""), "image/png")
    assert await storage.size(KEY) == 0
    assert await _read(await storage.open_range(KEY)) == b""


async def test_list_keys_by_prefix(storage: BlobStorage, tmp_path: Path) -> None:
    source = _write(tmp_path / "x", b"x")
    keys = [original_key(SHA, ".png"), original_key(OTHER, ".webm"), thumbnail_key(SHA, 250), thumbnail_key(SHA, 125)]
    for key in keys:
        await storage.put_file(key, source, "image/png")
    listed = await _keys(storage)
    assert set(listed) == set(keys)
    assert all(m.tzinfo is not None and abs(m - datetime.now(UTC)) < timedelta(minutes=5) for m in listed.values())
    assert set(await _keys(storage, "src/")) == set(keys[:2])
    assert set(await _keys(storage, "thumb/")) == set(keys[2:])
    assert set(await _keys(storage, f"src/{SHA[:2]}/")) == {keys[0]}
    assert set(await _keys(storage, f"thumb/{SHA[:2]}/{SHA}-1")) == {keys[3]}
    assert set(await _keys(storage, "sr")) == set(keys[:2])
    assert await _keys(storage, "nothing/") == {}


async def test_touch_refreshes_last_modified(storage: BlobStorage, tmp_path: Path) -> None:
    await storage.put_file(KEY, _write(tmp_path / "a", b"data"), "image/png")
    before = await storage.last_modified(KEY)
    await asyncio.sleep(1.1 if hasattr(storage, "bucket") else 0.02)  # S3 keeps whole seconds
    assert await storage.touch(KEY)
    after = await storage.last_modified(KEY)
    assert after > before
    assert await _read(await storage.open_range(KEY)) == b"data"
    assert (await _keys(storage))[KEY] >= after - timedelta(seconds=1)


async def test_readers_never_see_a_partial_object(storage: BlobStorage, tmp_path: Path) -> None:
    """Poll while a large upload (multipart on S3) is running: the key is either absent or complete."""
    data = os.urandom(17 * 1024 * 1024)
    source = _write(tmp_path / "big", data)
    upload = asyncio.create_task(storage.put_file(KEY, source, "video/webm"))
    seen: list[int] = []
    while not upload.done():
        if await storage.exists(KEY):
            seen.append(await storage.size(KEY))
        await asyncio.sleep(0)
    await upload
    assert all(size == len(data) for size in seen)
    assert hashlib.sha256(await _read(await storage.open_range(KEY))).digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("size", [200_000, 17 * 1024 * 1024])
async def test_a_failed_upload_leaves_nothing(
    storage: BlobStorage, tmp_path: Path, size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_only(monkeypatch)
    _write(tmp_path / "broken", os.urandom(size))
    broken = FailingPath(tmp_path / "broken")
    broken.fail_after = size // 2
    with pytest.raises((OSError, StorageError)):
        await storage.put_file(KEY, broken, "image/png")
    assert not await storage.exists(KEY)
    assert await _keys(storage) == {}
    root = getattr(storage, "root", None)
    if root is not None:  # no temporary file left behind on disk either
        assert [p for p in Path(root).rglob("*") if p.is_file()] == []  # noqa: ASYNC240
    bucket = getattr(storage, "bucket", None)
    if bucket is not None:  # and no unfinished multipart upload kept (and billed) by the bucket
        uploads = await asyncio.to_thread(storage._client.list_multipart_uploads, Bucket=bucket)  # type: ignore[attr-defined]
        assert uploads.get("Uploads", []) == []


async def test_a_failed_overwrite_keeps_the_old_object(
    storage: BlobStorage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _copy_only(monkeypatch)
    await storage.put_file(KEY, _write(tmp_path / "good", b"good bytes"), "image/png")
    _write(tmp_path / "broken", os.urandom(200_000))
    with pytest.raises((OSError, StorageError)):
        await storage.put_file(KEY, FailingPath(tmp_path / "broken"), "image/png")
    assert await _read(await storage.open_range(KEY)) == b"good bytes"


async def test_missing_source_file(storage: BlobStorage, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await storage.put_file(KEY, tmp_path / "not-there", "image/png")
    assert await _keys(storage) == {}


@pytest.mark.parametrize(
    "key",
    ["", "../etc/passwd", "/abs/key", "a//b", "a/./b", "a/../b", ".hidden", "src/.tmp-x", "a\\b", "a b", "a/", "é"],
)
async def test_unsafe_keys_are_refused(storage: BlobStorage, tmp_path: Path, key: str) -> None:
    source = _write(tmp_path / "x", b"x")
    with pytest.raises(InvalidKey):
        await storage.put_file(key, source, "image/png")
    with pytest.raises(InvalidKey):
        await storage.exists(key)
    with pytest.raises(InvalidKey):
        await storage.open_range(key)
    with pytest.raises(InvalidKey):
        await storage.delete(key)


async def test_concurrent_puts_of_the_same_key(storage: BlobStorage, tmp_path: Path) -> None:
    data = os.urandom(500_000)
    sources = [_write(tmp_path / f"s{i}", data) for i in range(8)]
    await asyncio.gather(*(storage.put_file(KEY, source, "image/png") for source in sources))
    assert await _read(await storage.open_range(KEY)) == data
    assert set(await _keys(storage)) == {KEY}

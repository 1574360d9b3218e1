"""``MediaService.ingest`` with the real processing modules (libvips), end to end: upload,
store, attach, serve, rebuild the thumbnail."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from imageboard.core.db import Database
from imageboard.core.errors import DomainError
from imageboard.media.limits import MediaLimits
from imageboard.media.routes import build_media_router
from imageboard.media.service import MediaService
from imageboard.media.storage import thumbnail_key
from imageboard.media.storage_local import LocalStorage

from .conftest import Posts


def _png(width: int, height: int) -> bytes:
    """A real RGB PNG with a gradient, built by hand."""
    rows = b"".join(
        b"\x00" + b"".join(bytes(((x * 255) // width, (y * 255) // height, 128)) for x in range(width))
        for y in range(height)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


@pytest.fixture
def real_media(database: Database, tmp_path: Path) -> MediaService:
    return MediaService(database, LocalStorage(tmp_path / "media"), workdir=tmp_path / "work")


async def test_ingest_attach_serve_and_rebuild(real_media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    post = await posts.post()
    upload = tmp_path / "upload.bin"
    upload.write_bytes(_png(600, 400))

    file = await real_media.ingest(upload, "My Holiday.PNG", MediaLimits(), is_op=True, spoiler=False)

    assert (file.kind, file.ext, file.mime, file.width, file.height) == ("image", ".png", "image/png", 600, 400)
    assert file.thumb_box == 250 and (file.thumb_width, file.thumb_height) == (250, 167)
    assert upload.exists() and list((tmp_path / "work").iterdir()) == []
    assert await real_media.storage.exists(file.key)
    assert file.thumb_key is not None and await real_media.storage.exists(file.thumb_key)
    stored = b"".join([c async for c in await real_media.storage.open_range(file.key)])
    assert hashlib.sha256(stored).hexdigest() == file.sha256 and len(stored) == file.size

    async with real_media.db.writer() as session:
        [view] = await real_media.attach(session, post_id=post, board_id=board_id, board_uri="b", files=[file])
    assert view.filename == file.filename and view.url == f"/media/b/{view.tim}.png"

    app = FastAPI()
    app.include_router(build_media_router(real_media))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        original = await client.get(view.url)
        assert original.status_code == 200 and original.content == stored
        thumb = await client.get(view.thumb_url)
        assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"  # a JPEG

    await real_media.storage.delete(thumbnail_key(file.sha256, 250))
    assert await real_media.rebuild_thumbnails(board_uri="b") == 1
    assert await real_media.storage.exists(thumbnail_key(file.sha256, 250))
    async with real_media.db.reader() as session:
        [again] = (await real_media.files_for_posts(session, [post]))[post]
    assert (again.thumb_width, again.thumb_height) == (250, 167)


async def test_a_refused_upload_stores_nothing(real_media: MediaService, tmp_path: Path) -> None:
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"MZ this is not a picture at all" * 10)
    with pytest.raises(DomainError):
        await real_media.ingest(upload, "evil.png", MediaLimits(), is_op=True, spoiler=False)
    assert list((tmp_path / "work").iterdir()) == []
    assert [key async for key, _ in real_media.storage.list_keys()] == []

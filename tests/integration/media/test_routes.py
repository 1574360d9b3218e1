"""The media routes over HTTP (ASGI, in-process) against a minimal app holding only them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI

from imageboard.core.db import Database
from imageboard.media.routes import build_media_router, content_disposition, parse_name, parse_range
from imageboard.media.schemas import IngestedFile
from imageboard.media.service import MediaService
from imageboard.media.storage import thumbnail_key
from imageboard.media.storage_local import LocalStorage

from .conftest import Posts, fake_process, ingest

DATA = os.urandom(3 * 1024 * 1024 + 17)


class Site:
    def __init__(self, media: MediaService, client: httpx.AsyncClient, posts: Posts, tmp_path: Path) -> None:
        self.media = media
        self.client = client
        self.posts = posts
        self.tmp_path = tmp_path
        self.board_id = 0

    async def upload(self, data: bytes = DATA, name: str = "picture.png", **kw: bool) -> tuple[int, IngestedFile]:
        if not self.board_id:
            self.board_id = await self.posts.board()
        post = await self.posts.post()
        file = await ingest(self.media, self.tmp_path, data, name, **kw)
        async with self.media.db.writer() as session:
            [view] = await self.media.attach(session, post_id=post, board_id=self.board_id, board_uri="b", files=[file])
        return view.tim, file


def _client(media: MediaService) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(build_media_router(media))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
async def site(database: Database, tmp_path: Path, posts: Posts) -> AsyncIterator[Site]:
    media = MediaService(database, LocalStorage(tmp_path / "media"), workdir=tmp_path / "work", processor=fake_process)
    async with _client(media) as client:
        yield Site(media, client, posts, tmp_path)


async def test_original(site: Site) -> None:
    tim, file = await site.upload()
    response = await site.client.get(f"/media/b/{tim}.png")
    assert response.status_code == 200
    assert response.content == DATA
    h = response.headers
    assert h["content-type"] == "image/png"
    assert h["content-length"] == str(len(DATA))
    assert h["x-content-type-options"] == "nosniff"
    assert h["cache-control"] == "public, max-age=31536000, immutable"
    assert h["etag"] == f'"{file.sha256}"'
    assert h["accept-ranges"] == "bytes"
    assert h["content-disposition"] == "inline; filename=\"picture.png\"; filename*=UTF-8''picture.png"


async def test_thumbnail(site: Site) -> None:
    tim, file = await site.upload(is_op=False)
    response = await site.client.get(f"/media/b/{tim}s.jpg")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["etag"] == f'"{file.sha256}-125"'
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    stored = b"".join([c async for c in await site.media.storage.open_range(thumbnail_key(file.sha256, 125))])
    assert response.content == stored
    assert (await site.client.get(f"/media/b/{tim}s.jpg", headers={"Range": "bytes=0-3"})).content == stored[:4]


async def test_head(site: Site) -> None:
    tim, _ = await site.upload()
    response = await site.client.head(f"/media/b/{tim}.png")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["content-type"] == "image/png"
    assert response.headers["accept-ranges"] == "bytes"
    partial = await site.client.head(f"/media/b/{tim}.png", headers={"Range": "bytes=100-199"})
    assert partial.status_code == 206 and partial.content == b""
    assert partial.headers["content-range"] == f"bytes 100-199/{len(DATA)}"
    assert partial.headers["content-length"] == "100"


@pytest.mark.parametrize(
    ("header", "status", "expected", "content_range"),
    [
        ("bytes=0-9", 206, slice(0, 10), f"bytes 0-9/{len(DATA)}"),
        ("bytes=1000000-", 206, slice(1000000, None), f"bytes 1000000-{len(DATA) - 1}/{len(DATA)}"),
        ("bytes=-5", 206, slice(len(DATA) - 5, None), f"bytes {len(DATA) - 5}-{len(DATA) - 1}/{len(DATA)}"),
        ("bytes=-99999999", 206, slice(0, None), f"bytes 0-{len(DATA) - 1}/{len(DATA)}"),
        ("bytes=5-999999999", 206, slice(5, None), f"bytes 5-{len(DATA) - 1}/{len(DATA)}"),
        (f"bytes={len(DATA) - 1}-", 206, slice(len(DATA) - 1, None), None),
        ("bytes = 3 - 4", 206, slice(3, 5), None),
        ("bytes=0-1,5-9", 200, slice(0, None), None),  # several ranges: the whole file
        ("bytes=abc", 200, slice(0, None), None),
        ("bytes=9-3", 200, slice(0, None), None),
        ("items=0-5", 200, slice(0, None), None),
    ],
)
async def test_ranges(site: Site, header: str, status: int, expected: slice, content_range: str | None) -> None:
    tim, _ = await site.upload()
    response = await site.client.get(f"/media/b/{tim}.png", headers={"Range": header})
    assert response.status_code == status
    assert response.content == DATA[expected]
    assert response.headers["content-length"] == str(len(DATA[expected]))
    if status == 206:
        assert response.headers["content-range"].endswith(f"/{len(DATA)}")
        if content_range:
            assert response.headers["content-range"] == content_range
    else:
        assert "content-range" not in response.headers


@pytest.mark.parametrize("header", [f"bytes={len(DATA)}-", f"bytes={len(DATA) + 10}-{len(DATA) + 20}", "bytes=-0"])
async def test_unsatisfiable_ranges(site: Site, header: str) -> None:
    tim, _ = await site.upload()
    response = await site.client.get(f"/media/b/{tim}.png", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.content == b""


async def test_conditional_requests(site: Site) -> None:
    tim, file = await site.upload()
    etag = f'"{file.sha256}"'
    not_modified = await site.client.get(f"/media/b/{tim}.png", headers={"If-None-Match": etag})
    assert not_modified.status_code == 304 and not_modified.content == b""
    assert not_modified.headers["etag"] == etag
    other = await site.client.get(f"/media/b/{tim}.png", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200
    same = await site.client.get(f"/media/b/{tim}.png", headers={"Range": "bytes=0-0", "If-Range": etag})
    assert same.status_code == 206 and same.content == DATA[:1]
    changed = await site.client.get(f"/media/b/{tim}.png", headers={"Range": "bytes=0-0", "If-Range": '"old"'})
    assert changed.status_code == 200 and changed.content == DATA


async def test_hostile_filename(site: Site) -> None:
    name = 'evil"; filename=x.exe\r\nSet-Cookie: a=b; \\..\\ é 日本 \u202egnp.png'
    tim, _ = await site.upload(b"small file", name)
    response = await site.client.get(f"/media/b/{tim}.png")
    assert response.status_code == 200
    assert "set-cookie" not in response.headers
    value = response.headers["content-disposition"]
    assert "\r" not in value and "\n" not in value
    assert value.startswith('inline; filename="')
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    assert all(0x20 <= ord(c) < 0x7F and c not in '"\\' for c in fallback)
    encoded = value.split("filename*=UTF-8''", 1)[1]
    assert all(c.isalnum() or c in "%-._~" for c in encoded)
    assert unquote(encoded) == name  # the exact name survives


def test_content_disposition_edge_cases() -> None:
    assert content_disposition("") == "inline; filename=\"file\"; filename*=UTF-8''"
    assert 'filename="___.png"' in content_disposition("日本語.png")
    lone = content_disposition("bad\udc80.png")  # a lone surrogate must not crash the header
    assert "filename*=UTF-8''bad%3F.png" in lone


@pytest.mark.parametrize(
    "path",
    [
        "/media/b/123.png",
        "/media/b/abc.png",
        "/media/b/123",
        "/media/b/123s.png",
        "/media/b/123.PNG",
        "/media/B/123.png",
        "/media/b/99999999999999999999.png",
        "/media/b/9999999999999999999.png",  # above BIGINT: must not reach the database
        "/media/b/9999999999999999999s.jpg",
        "/media/" + "x" * 40 + "/1.png",
        "/media/b/..%2F..%2Fetc%2Fpasswd",
        "/media/b/1.png/extra",
    ],
)
async def test_not_found(site: Site, path: str) -> None:
    await site.upload()
    response = await site.client.get(path)
    assert response.status_code == 404
    # ours, or the framework's own 404 for paths no route matches (the real app renders those)
    body = response.json()
    assert body.get("error", {}).get("code") == "not_found" or body == {"detail": "Not Found"}


async def test_not_found_cases_for_real_files(site: Site) -> None:
    tim, file = await site.upload()
    json_404 = await site.client.get(f"/media/b/{tim}.gif")  # another extension than the file's
    assert json_404.status_code == 404
    assert json_404.json()["error"]["code"] == "not_found"
    assert (await site.client.get(f"/media/g/{tim}.png")).status_code == 404  # another board

    song_tim, _ = await site.upload(b"ID3 song", "song.mp3")
    assert (await site.client.get(f"/media/b/{song_tim}.mp3")).status_code == 200
    assert (await site.client.get(f"/media/b/{song_tim}s.jpg")).status_code == 404  # no thumbnail

    await site.media.storage.delete(file.key)
    missing = await site.client.get(f"/media/b/{tim}.png")
    assert missing.status_code == 404


async def test_deleted_files_are_gone(site: Site) -> None:
    tim, _ = await site.upload()
    async with site.media.db.reader() as session:
        stored = await site.media.resolve(session, "b", tim)
    assert stored is not None
    from sqlalchemy import select

    from imageboard.media.models import Attachment

    async with site.media.db.reader() as session:
        post_id = (await session.execute(select(Attachment.post_id).where(Attachment.tim == tim))).scalar_one()
    async with site.media.db.writer() as session:
        await site.media.delete_files_of_posts(session, [post_id])
    assert (await site.client.get(f"/media/b/{tim}.png")).status_code == 404
    assert (await site.client.get(f"/media/b/{tim}s.jpg")).status_code == 404
    assert (await site.client.head(f"/media/b/{tim}.png")).status_code == 404


class CdnStorage(LocalStorage):
    def public_url(self, key: str) -> str | None:
        return f"https://cdn.example.org/{key}"


async def test_redirect_to_public_storage(database: Database, tmp_path: Path, posts: Posts) -> None:
    media = MediaService(database, CdnStorage(tmp_path / "media"), workdir=tmp_path / "work", processor=fake_process)
    async with _client(media) as client:
        site = Site(media, client, posts, tmp_path)
        tim, file = await site.upload()
        response = await client.get(f"/media/b/{tim}.png")
        assert response.status_code == 302
        assert response.headers["location"] == f"https://cdn.example.org/{file.key}"
        thumb = await client.get(f"/media/b/{tim}s.jpg")
        assert thumb.headers["location"] == f"https://cdn.example.org/{file.thumb_key}"
        assert (await client.get(f"/media/b/{tim + 1}.png")).status_code == 404


def test_parse_name() -> None:
    assert parse_name("1700000000123456.webm") == (1700000000123456, ".webm")
    assert parse_name("1700000000123456s.jpg") == (1700000000123456, None)
    assert parse_name("1700000000123456.jpg") == (1700000000123456, ".jpg")
    assert parse_name(str(2**63 - 1) + ".png") == (2**63 - 1, ".png")
    for bad in ["", "s.jpg", "12s.png", "12.p", "12.toolongext", "-1.png", "1 .png", "１２.png"]:
        assert parse_name(bad) is None, bad


def test_parse_range() -> None:
    assert parse_range(None, 100) is None
    assert parse_range("bytes=0-0", 100) == (0, 1)
    assert parse_range("bytes=99-", 100) == (99, 100)
    assert parse_range("bytes=100-", 100) == "unsatisfiable"
    assert parse_range("bytes=-1", 0) == "unsatisfiable"
    assert parse_range("bytes=0-", 0) == "unsatisfiable"
    assert parse_range("bytes=-", 100) is None
    assert parse_range("BYTES=1-2", 100) == (1, 3)

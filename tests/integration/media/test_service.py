"""The media service against both real databases, with files on local disk."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select

from imageboard.boards.models import Post
from imageboard.core.db import Database
from imageboard.core.errors import UnsupportedMedia
from imageboard.media.models import Attachment, MediaBlob
from imageboard.media.schemas import IngestedFile
from imageboard.media.service import MediaService
from imageboard.media.storage import original_key, thumbnail_key
from imageboard.media.storage_local import LocalStorage

from .conftest import Clock, FakeLimits, Posts, Thumbnailer, ingest

PNG = b"\x89PNG fake image bytes " * 50
WEBM = b"\x1a\x45\xdf\xa3 fake video bytes " * 80
MP3 = b"ID3 fake audio bytes " * 30


async def _attach(media: MediaService, post_id: int, board_id: int, files: list[IngestedFile], uri: str = "b") -> list:
    async with media.db.writer() as session:
        return await media.attach(session, post_id=post_id, board_id=board_id, board_uri=uri, files=files)


async def _files(media: MediaService, post_ids: list[int]) -> dict:
    async with media.db.reader() as session:
        return await media.files_for_posts(session, post_ids)


async def _count(db: Database, model: type) -> int:
    async with db.reader() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def _backdate(storage: LocalStorage, key: str, days: float = 2) -> None:
    when = time.time() - days * 86400
    os.utime(storage.path_for(key), (when, when))


def _stored(storage: LocalStorage) -> set[str]:
    return {p.relative_to(storage.root).as_posix() for p in storage.root.rglob("*") if p.is_file()}


async def test_attach_and_show(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    op, reply, bare = await posts.post(), await posts.post(comment="y"), await posts.post(comment="z")
    image = await ingest(media, tmp_path, PNG, "cat.png")
    video = await ingest(media, tmp_path, WEBM, "clip.webm")
    hidden = await ingest(media, tmp_path, PNG + b"!", "secret.png", is_op=False, spoiler=True)

    attached = await _attach(media, op, board_id, [image, video])
    await _attach(media, reply, board_id, [hidden])
    files = await _files(media, [op, reply, bare])

    assert set(files) == {op, reply}
    assert files[op] == attached
    first, second = files[op]
    assert (first.kind, first.ext, first.mime, first.filename) == ("image", ".png", "image/png", "cat")
    assert (first.size, first.sha256, first.md5_base64) == (image.size, image.sha256, image.md5_base64)
    assert first.url == f"/media/b/{first.tim}.png"
    assert first.thumb_url == f"/media/b/{first.tim}s.jpg"
    assert (first.width, first.height, first.thumb_width, first.thumb_height) == (640, 480, 250, 187)
    assert not first.spoiler and not first.deleted
    assert (second.kind, second.url, second.duration, second.has_audio) == (
        "video",
        f"/media/b/{second.tim}.webm",
        12.5,
        True,
    )
    [spoilered] = files[reply]
    assert spoilered.spoiler
    assert spoilered.thumb_url == "/static/img/spoiler.png"
    assert (spoilered.thumb_width, spoilered.thumb_height) == (100, 100)
    assert spoilered.url == f"/media/b/{spoilered.tim}.png"
    # the files are in storage under their content addresses
    assert await media.storage.exists(original_key(image.sha256, ".png"))
    assert await media.storage.exists(thumbnail_key(image.sha256, 250))
    assert await media.storage.exists(thumbnail_key(hidden.sha256, 125))


async def test_audio_and_files_without_thumbnails(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    post = await posts.post()
    song = await ingest(media, tmp_path, MP3, "song.mp3")
    assert song.thumb_box == 0 and song.thumb_key is None
    [view] = await _attach(media, post, board_id, [song])
    assert (view.kind, view.thumb_url, view.thumb_width, view.thumb_height) == (
        "audio",
        "/static/img/audio.png",
        100,
        100,
    )
    assert view.url == f"/media/b/{view.tim}.mp3"


async def test_media_base_url_may_be_a_cdn(
    database: Database, storage: LocalStorage, tmp_path: Path, posts: Posts
) -> None:
    from .conftest import fake_process

    media = MediaService(
        database, storage, media_base_url="https://cdn.example.org/i/", workdir=tmp_path / "w", processor=fake_process
    )
    board_id = await posts.board()
    post = await posts.post()
    [view] = await _attach(media, post, board_id, [await ingest(media, tmp_path, PNG)])
    assert view.url == f"https://cdn.example.org/i/b/{view.tim}.png"
    assert view.thumb_url == f"https://cdn.example.org/i/b/{view.tim}s.jpg"


async def test_same_bytes_are_stored_once(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    other_board = await posts.board("g")
    first, second, third = await posts.post(), await posts.post(), await posts.post("g")
    as_op = await ingest(media, tmp_path, PNG, "a.png")
    as_reply = await ingest(media, tmp_path, PNG, "b.png", is_op=False)
    again = await ingest(media, tmp_path, PNG, "c.png")
    assert as_op.sha256 == as_reply.sha256 == again.sha256

    a = await _attach(media, first, board_id, [as_op])
    b = await _attach(media, second, board_id, [as_reply])
    await _attach(media, third, other_board, [again], uri="g")

    assert await _count(media.db, MediaBlob) == 1
    assert await _count(media.db, Attachment) == 3
    key = original_key(as_op.sha256, ".png")
    assert _stored(media.storage) == {key, thumbnail_key(as_op.sha256, 250), thumbnail_key(as_op.sha256, 125)}  # type: ignore[arg-type]
    assert a[0].tim != b[0].tim
    assert (a[0].filename, b[0].filename) == ("a", "b")
    async with media.db.reader() as session:
        assert await media.posts_with_blob(session, board_id, as_op.sha256) == [first, second]
        assert await media.posts_with_blob(session, other_board, as_op.sha256) == [third]
        assert await media.posts_with_blob(session, board_id, "0" * 64) == []


async def test_tims_are_unique_under_concurrency(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    post_ids = [await posts.post(comment=str(i)) for i in range(30)]
    same = await ingest(media, tmp_path, PNG)
    distinct = [await ingest(media, tmp_path, PNG + str(i).encode()) for i in range(15)]
    files = [same] * 15 + distinct

    async def one(post_id: int, file: IngestedFile) -> int:
        [view] = await _attach(media, post_id, board_id, [file])
        return int(view.tim)

    tims = await asyncio.gather(*(one(post_id, file) for post_id, file in zip(post_ids, files, strict=True)))
    assert len(set(tims)) == 30
    assert await _count(media.db, MediaBlob) == 16
    shown = await _files(media, post_ids)
    assert sorted(views[0].tim for views in shown.values()) == sorted(tims)


async def test_a_taken_tim_is_drawn_again(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    first, second = await posts.post(), await posts.post()
    file = await ingest(media, tmp_path, PNG)
    taken = 1_700_000_000_000_000
    draws = iter([taken, taken, taken, taken + 1, taken + 1, taken + 2])
    media._next_tim = lambda: next(draws)  # type: ignore[method-assign]
    [a] = await _attach(media, first, board_id, [file])
    async with media.db.writer() as session:  # the collision is retried inside a larger transaction
        [b, c] = await media.attach(session, post_id=second, board_id=board_id, board_uri="b", files=[file, file])
    assert (a.tim, b.tim, c.tim) == (taken, taken + 1, taken + 2)
    assert await _count(media.db, Attachment) == 3


async def test_tim_looks_like_4chan(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    post = await posts.post()
    before = int(time.time() * 1000)
    [view] = await _attach(media, post, board_id, [await ingest(media, tmp_path, PNG)])
    after = int(time.time() * 1000)
    assert before <= view.tim // 1000 <= after


async def test_nothing_is_attached_when_the_post_rolls_back(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    post = await posts.post()
    file = await ingest(media, tmp_path, PNG)

    async def post_that_fails_later() -> None:
        async with media.db.writer() as session:
            await media.attach(session, post_id=post, board_id=board_id, board_uri="b", files=[file])
            raise RuntimeError("the posting transaction failed later")

    with pytest.raises(RuntimeError):
        await post_that_fails_later()
    assert await _count(media.db, Attachment) == 0
    assert await _count(media.db, MediaBlob) == 0
    assert await media.storage.exists(file.key)  # stored before the commit; the collector's to remove


async def test_delete_files_of_posts(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    first, second = await posts.post(), await posts.post()
    await _attach(
        media, first, board_id, [await ingest(media, tmp_path, PNG), await ingest(media, tmp_path, WEBM, "v.webm")]
    )
    await _attach(media, second, board_id, [await ingest(media, tmp_path, MP3, "s.mp3")])
    async with media.db.writer() as session:
        assert await media.delete_files_of_posts(session, [first]) == 2
    async with media.db.writer() as session:
        assert await media.delete_files_of_posts(session, [first]) == 0
        assert await media.delete_files_of_posts(session, []) == 0
    files = await _files(media, [first, second])
    assert [f.deleted for f in files[first]] == [True, True]
    assert [f.deleted for f in files[second]] == [False]
    async with media.db.reader() as session:
        sha = files[first][0].sha256
        assert await media.posts_with_blob(session, board_id, sha) == []
        assert (await media.resolve(session, "b", files[first][0].tim)).deleted  # type: ignore[union-attr]
    assert await media.storage.exists(original_key(sha, ".png"))  # bytes stay until the collector runs


async def test_resolve(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    post = await posts.post()
    file = await ingest(media, tmp_path, PNG, "cat.png", is_op=False)
    [view] = await _attach(media, post, board_id, [file])
    found = await media.find("b", view.tim)
    assert found is not None
    assert (found.sha256, found.ext, found.mime, found.filename, found.thumb_box) == (
        file.sha256,
        ".png",
        "image/png",
        "cat",
        125,
    )
    assert found.key == file.key and found.thumb_key == thumbnail_key(file.sha256, 125)
    assert await media.find("g", view.tim) is None
    assert await media.find("b", view.tim + 1) is None


async def test_gc(media: MediaService, posts: Posts, tmp_path: Path, clock: Clock) -> None:
    storage = media.storage
    assert isinstance(storage, LocalStorage)
    board_id = await posts.board()
    live_post, deleted_post, gone_post = await posts.post(), await posts.post(), await posts.post()
    live = await ingest(media, tmp_path, PNG, "live.png")  # attached to a live post
    live_reply_thumb = await ingest(media, tmp_path, PNG, "live.png", is_op=False)  # same bytes, never attached
    dead = await ingest(media, tmp_path, WEBM, "dead.webm")  # its file gets deleted
    gone = await ingest(media, tmp_path, MP3, "gone.mp3")  # its whole post gets deleted
    crashed = await ingest(media, tmp_path, PNG + b"crash", "crash.png")  # stored, the post never committed
    young = await ingest(media, tmp_path, PNG + b"young", "young.png")  # stored a moment ago, post in flight
    await _attach(media, live_post, board_id, [live])
    await _attach(media, deleted_post, board_id, [dead])
    await _attach(media, gone_post, board_id, [gone])
    async with media.db.writer() as session:
        await media.delete_files_of_posts(session, [deleted_post])
        await session.execute(delete(Post).where(Post.id == gone_post))
    for key in _stored(storage):
        if young.sha256 not in key:
            _backdate(storage, key)

    removed = await media.gc(grace=timedelta(hours=1))

    expected = {
        thumbnail_key(live_reply_thumb.sha256, 125),
        dead.key,
        thumbnail_key(dead.sha256, 250),
        gone.key,
        crashed.key,
        thumbnail_key(crashed.sha256, 250),
    }
    assert set(removed) == expected and len(removed) == len(expected)
    assert _stored(storage) == {live.key, thumbnail_key(live.sha256, 250), young.key, thumbnail_key(young.sha256, 250)}
    async with media.db.reader() as session:
        rows = set((await session.execute(select(MediaBlob.sha256))).scalars())
    # rows are younger than the grace period yet: all kept
    assert rows == {live.sha256, dead.sha256, gone.sha256}

    # Much later: the young upload never got its post; the orphaned row of the deleted post goes.
    clock.offset = timedelta(days=3)
    removed = await media.gc(grace=timedelta(hours=1))
    assert set(removed) == {young.key, thumbnail_key(young.sha256, 250)}
    assert _stored(storage) == {live.key, thumbnail_key(live.sha256, 250)}
    async with media.db.reader() as session:
        rows = set((await session.execute(select(MediaBlob.sha256))).scalars())
    assert rows == {live.sha256, dead.sha256}  # a deleted file's row stays for its "file deleted" stub
    assert await media.gc(grace=timedelta(hours=1)) == []
    assert (await _files(media, [live_post]))[live_post][0].sha256 == live.sha256


async def test_gc_spares_bytes_uploaded_again(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    """An old unreferenced blob posted again is touched by ingest, so the collector leaves it
    alone while the new post is being written."""
    storage = media.storage
    assert isinstance(storage, LocalStorage)
    first = await ingest(media, tmp_path, PNG)
    for key in _stored(storage):
        _backdate(storage, key)
    again = await ingest(media, tmp_path, PNG)
    assert again.sha256 == first.sha256
    assert await media.gc(grace=timedelta(hours=1)) == []
    assert await storage.exists(first.key)


async def test_gc_refuses_negative_grace(media: MediaService) -> None:
    with pytest.raises(ValueError, match="negative"):
        await media.gc(grace=timedelta(seconds=-1))


async def test_rebuild_thumbnails(media: MediaService, posts: Posts, tmp_path: Path, thumbnailer: Thumbnailer) -> None:
    b = await posts.board()
    g = await posts.board("g")
    op, reply, other, deleted = await posts.post(), await posts.post(), await posts.post("g"), await posts.post()
    image = await ingest(media, tmp_path, PNG)
    image_small = await ingest(media, tmp_path, PNG, is_op=False)
    video = await ingest(media, tmp_path, WEBM, "v.webm")
    song = await ingest(media, tmp_path, MP3, "s.mp3")
    elsewhere = await ingest(media, tmp_path, PNG + b"g")
    gone = await ingest(media, tmp_path, PNG + b"gone")
    await _attach(media, op, b, [image, video, song])
    await _attach(media, reply, b, [image_small])
    await _attach(media, other, g, [elsewhere], uri="g")
    await _attach(media, deleted, b, [gone])
    async with media.db.writer() as session:
        await media.delete_files_of_posts(session, [deleted])
    for key in list(_stored(media.storage)):  # type: ignore[arg-type]
        if key.startswith("thumb/"):
            await media.storage.delete(key)

    seen: list[tuple[int, int]] = []
    count = await media.rebuild_thumbnails(board_uri="b", progress=lambda done, total: seen.append((done, total)))

    assert count == 3  # image at 250 and 125, video at 250; audio has no thumbnail; deleted files are skipped
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert sorted(thumbnailer.calls) == [("image", 125), ("image", 250), ("video", 250)]
    for key in (thumbnail_key(image.sha256, 250), thumbnail_key(image.sha256, 125), thumbnail_key(video.sha256, 250)):
        assert await media.storage.exists(key)
        assert (await _read(media, key)).startswith(b"REBUILT")
    assert not await media.storage.exists(thumbnail_key(elsewhere.sha256, 250))
    files = await _files(media, [op, reply])
    assert [(f.thumb_width, f.thumb_height) for f in files[op]] == [(77, 55), (77, 55), (100, 100)]
    assert (files[reply][0].thumb_width, files[reply][0].thumb_height) == (77, 55)

    assert await media.rebuild_thumbnails() == 4  # every board now
    assert await media.storage.exists(thumbnail_key(elsewhere.sha256, 250))


async def _read(media: MediaService, key: str) -> bytes:
    return b"".join([chunk async for chunk in await media.storage.open_range(key)])


async def test_rebuild_skips_a_missing_original(media: MediaService, posts: Posts, tmp_path: Path) -> None:
    board_id = await posts.board()
    post = await posts.post()
    file = await ingest(media, tmp_path, PNG)
    await _attach(media, post, board_id, [file])
    await media.storage.delete(file.key)
    assert await media.rebuild_thumbnails() == 0


async def test_ingest_cleans_up(media: MediaService, tmp_path: Path) -> None:
    upload = tmp_path / "upload.png"
    upload.write_bytes(PNG)
    await media.ingest(upload, "x.png", FakeLimits(), is_op=True, spoiler=False)
    assert upload.exists()  # the caller's file is the caller's
    assert list((tmp_path / "work").iterdir()) == []
    with pytest.raises(UnsupportedMedia):
        await media.ingest(upload, "x.exe", FakeLimits(), is_op=True, spoiler=False)
    assert list((tmp_path / "work").iterdir()) == []


async def test_files_for_no_posts(media: MediaService) -> None:
    assert await _files(media, []) == {}
    async with media.db.writer() as session:
        assert await media.attach(session, post_id=1, board_id=1, board_uri="b", files=[]) == []


# SQLite has one writer at a time: no collector can run inside a post there.
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
async def test_a_blob_row_the_collector_deletes_mid_post_is_inserted_again(
    media: MediaService, posts: Posts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a blob row found (not inserted) by the posting transaction is not locked
    until the next statement; the collector may delete it in between. The post then inserts
    it again instead of pointing at a row that is gone."""
    from imageboard.media import repository

    board_id = await posts.board()
    first, second = await posts.post(), await posts.post(comment="again")
    file = await ingest(media, tmp_path, PNG)
    await _attach(media, first, board_id, [file])
    async with media.db.writer() as session:  # the first post goes; its blob row stays, unused
        await session.execute(delete(Attachment))
    real_insert = repository.insert_blob_if_missing
    collected: list[str] = []

    async def insert_then_collect(session: object, values: dict[str, object]) -> None:
        await real_insert(session, values)  # type: ignore[arg-type]
        if not collected:  # a collector's own transaction, committed before the post's lock
            async with media.db.writer() as collector:
                await collector.execute(delete(MediaBlob).where(MediaBlob.sha256 == values["sha256"]))
            collected.append(str(values["sha256"]))

    monkeypatch.setattr(repository, "insert_blob_if_missing", insert_then_collect)
    [view] = await _attach(media, second, board_id, [file])
    assert collected == [file.sha256]
    assert await _count(media.db, MediaBlob) == 1
    assert (await _files(media, [second]))[second][0].tim == view.tim

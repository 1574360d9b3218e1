"""Fixtures for the media context: a service on local-disk storage with a stand-in for the
file-processing modules (real small files, computed hashes), and posts to attach to."""

from __future__ import annotations

import base64
import hashlib
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.boards.models import Post
from imageboard.core.db import Database
from imageboard.core.errors import UnsupportedMedia
from imageboard.media.schemas import IngestedFile
from imageboard.media.service import MediaService
from imageboard.media.storage_local import LocalStorage

from ...conftest import SECRET

KINDS = {".png": ("image", "image/png"), ".webm": ("video", "video/webm"), ".mp3": ("audio", "audio/mpeg")}


@dataclass(frozen=True)
class FakeProcessed:
    """Shaped like ``imageboard.media.processing.ProcessedFile``."""

    kind: str
    ext: str
    mime: str
    original: Path
    size: int
    sha256: str
    md5_base64: str
    width: int
    height: int
    duration: float | None
    has_audio: bool | None
    thumbnail: Path | None
    thumb_width: int
    thumb_height: int
    filename: str


@dataclass(frozen=True)
class FakeLimits:
    op_thumb: int = 250
    reply_thumb: int = 125


def fake_process(
    source: Path, client_filename: str, limits: FakeLimits, /, *, is_op: bool, workdir: Path
) -> FakeProcessed:
    """Writes a 'cleaned' original and a 'thumbnail' into ``workdir``, as the real one does."""
    stem, dot, ext = client_filename.rpartition(".")
    ext = f"{dot}{ext}".lower()
    if ext not in KINDS:
        raise UnsupportedMedia(f"{ext} files are not allowed here.", field="upfile")
    kind, mime = KINDS[ext]
    data = source.read_bytes()
    original = workdir / f"clean{ext}"
    shutil.copyfile(source, original)
    thumbnail = None
    if kind != "audio":
        thumbnail = workdir / "thumb.jpg"
        thumbnail.write_bytes(b"JPEG" + hashlib.sha256(data).digest())
    box = limits.op_thumb if is_op else limits.reply_thumb
    return FakeProcessed(
        kind=kind,
        ext=ext,
        mime=mime,
        original=original,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        md5_base64=base64.b64encode(hashlib.md5(data).digest()).decode(),  # noqa: S324  (4chan's file id)
        width=640,
        height=480,
        duration=12.5 if kind != "image" else None,
        has_audio=True if kind == "video" else None,
        thumbnail=thumbnail,
        thumb_width=box if thumbnail else 0,
        thumb_height=box * 3 // 4 if thumbnail else 0,
        filename=stem,
    )


class Thumbnailer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, original: Path, kind: str, box: int, workdir: Path) -> tuple[Path, int, int] | None:
        self.calls.append((kind, box))
        if kind == "audio":
            return None
        out = workdir / "rebuilt.jpg"
        out.write_bytes(b"REBUILT" + original.read_bytes()[:16])
        return out, 77, 55


class Clock:
    """Real time plus an offset the test can move."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def thumbnailer() -> Thumbnailer:
    return Thumbnailer()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "media")


@pytest.fixture
def media(
    database: Database, storage: LocalStorage, tmp_path: Path, clock: Clock, thumbnailer: Thumbnailer
) -> MediaService:
    return MediaService(
        database,
        storage,
        workdir=tmp_path / "work",
        clock=clock,
        processor=fake_process,
        thumbnailer=thumbnailer,
    )


@dataclass
class Posts:
    db: Database
    boards: BoardsService

    async def board(self, uri: str = "b") -> int:
        view = await self.boards.create_board(BoardSpec(uri=uri, title=uri.upper(), require_file=False))
        return await self.board_id(view.uri)

    async def board_id(self, uri: str) -> int:
        from imageboard.boards.models import Board

        async with self.db.reader() as session:
            return int((await session.execute(select(Board.id).where(Board.uri == uri))).scalar_one())

    async def post(self, board: str = "b", thread_no: int = 0, comment: str = "x") -> int:
        created = await self.boards.create_post(NewPost(board=board, thread_no=thread_no, comment=comment))
        board_id = await self.board_id(board)
        async with self.db.reader() as session:
            query = select(Post.id).where(Post.board_id == board_id, Post.no == created.post_no)
            return int((await session.execute(query)).scalar_one())


@pytest.fixture
def posts(database: Database) -> Posts:
    return Posts(database, BoardsService(database, secret=SECRET))


async def ingest(
    media: MediaService,
    tmp_path: Path,
    data: bytes,
    name: str = "cat.png",
    *,
    is_op: bool = True,
    spoiler: bool = False,
) -> IngestedFile:
    upload = tmp_path / f"upload-{hashlib.sha256(data + name.encode()).hexdigest()[:12]}"
    upload.write_bytes(data)
    return await media.ingest(upload, name, FakeLimits(), is_op=is_op, spoiler=spoiler)

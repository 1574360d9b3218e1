"""Videos finished by the worker: posted as "processing", shown as such, made ready (or
failed) by the ``thumbnails`` group, announced to the thread — on SQLite and PostgreSQL, with
the site's in-process worker (``--role all``) and real ffmpeg."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.events import FileFinished, FileProcessed, PostCreated, decode_event
from imageboard.events import repository as events_repo
from imageboard.events.runtime import EventsRuntime
from imageboard.events.worker import WorkerRegistry
from imageboard.media import MediaService
from imageboard.media.deferred import VideoFinisher
from imageboard.media.storage import original_key
from imageboard.media.tasks import MEDIA_GROUP, limits_from_settings, register

from ... import media_samples as samples
from ...statements import write_statements

JSON = {"accept": "application/json"}


def settings_for(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, secret_key="test-secret", environment="development", page_cache="off", antispam="off"
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A WebM whose metadata names a camera and a place: the clean copy must carry neither."""
    return samples.video(tmp_path_factory.mktemp("clips") / "clip.webm", metadata=True).read_bytes()


class Site:
    def __init__(self, tmp_path: Path, database: Database) -> None:
        self.settings = settings_for(tmp_path)
        self.app = create_app(self.settings, database=database)
        self.db = database
        self.runtime: EventsRuntime = self.app.state.events
        self.media: MediaService = self.app.state.media
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("203.0.113.9", 40000)), base_url="http://testserver"
        )

    async def post(self, clip: bytes, thread: int = 0, name: str = "holiday.webm") -> dict[str, Any]:
        response = await self.client.post(
            "/b/post",
            data={"com": f"a video {time.monotonic_ns()}", "resto": str(thread)},
            files={"upfile": (name, clip, "video/webm")},
            headers=JSON,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def first_file(self, no: int, thread: int | None = None) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/boards/b/threads/{thread or no}", headers=JSON)
        assert response.status_code == 200, response.text
        [post] = [p for p in response.json()["posts"] if p["no"] == no]
        return dict(post["files"][0])

    async def events(self, kind: type) -> list[Any]:
        async with self.db.reader() as session:
            rows = await events_repo.outbox_rows(session)
        return [e for e in (decode_event(r.payload) for r in rows) if isinstance(e, kind)]


@pytest.fixture
async def site(tmp_path: Path, database: Database) -> Site:
    made = Site(tmp_path, database)
    boards: BoardsService = made.app.state.boards
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    return made


async def _until(check: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while not (result := await check()):
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)
    return result


async def test_a_video_shows_as_processing_until_the_worker_finishes_it(site: Site, clip: bytes) -> None:
    # Posted before the site's background worker starts, so the waiting state can be seen.
    no = (await site.post(clip))["no"]
    waiting = await site.first_file(no)
    assert waiting["thumb_url"].endswith("/static/img/processing.svg")
    assert waiting["md5"] == "" and waiting["width"] == 320 and waiting["duration"] == pytest.approx(1.0, abs=0.1)
    page = await site.client.get(f"/b/thread/{no}")
    assert page.status_code == 200 and "Processing the video" in page.text
    fourchan = (await site.client.get(f"/b/thread/{no}.json")).json()["posts"][0]
    assert fourchan["tn_w"] == 0 and fourchan["tim"] == waiting["tim"]
    # The upload as it came still names the camera: it is never served.
    assert (await site.client.get(f"/media/b/{waiting['tim']}.webm")).status_code == 404
    version = await site.app.state.boards.version("b", no)

    await site.runtime.start()
    try:
        assert MEDIA_GROUP in site.runtime.registry.registrations

        async def ready() -> dict[str, Any] | None:
            file = await site.first_file(no)
            return file if file["thumb_url"].endswith(f"/{file['tim']}s.jpg") else None

        file = await _until(ready)
        original = await site.client.get(f"/media/b/{file['tim']}.webm")
        assert original.status_code == 200
        assert samples.SECRET not in original.content and samples.SECRET_PLACE.encode() not in original.content
        assert (await site.client.get(file["thumb_url"])).status_code == 200
        assert file["md5"] and file["sha256"] and 0 < file["thumb_width"] <= 250
        page = await site.client.get(f"/b/thread/{no}")
        assert "Processing the video" not in page.text and f"/media/b/{file['tim']}s.jpg" in page.text

        # The thread is announced changed (pages keyed by its version are rebuilt), once.
        [announced] = await _until(lambda: site.events(FileProcessed))
        assert (announced.board, announced.thread_no, announced.post_no, announced.status) == ("b", no, no, "ready")
        assert announced.sha256 == file["sha256"]
        assert await site.app.state.boards.version("b", no) > version
        assert len(await site.events(FileFinished)) == 1
    finally:
        await site.runtime.stop(grace=5)


async def test_a_video_that_cannot_be_finished_is_shown_as_failed(site: Site, clip: bytes) -> None:
    no = (await site.post(clip))["no"]
    waiting = await site.first_file(no)
    async with site.db.reader() as session:
        from imageboard.media import repository as media_repo

        row = await media_repo.attachment_by_tim(session, "b", waiting["tim"])
    assert row is not None and row.attachment.status == "processing"
    # The stored upload is lost (a storage accident): the job can never succeed.
    await site.media.storage.delete(original_key(row.blob.sha256, row.blob.ext))

    await site.runtime.start()
    try:
        [announced] = await _until(lambda: site.events(FileProcessed))
        assert announced.status == "failed" and announced.post_no == no
        file = await site.first_file(no)
        assert file["thumb_url"].endswith("/static/img/failed.svg")
        page = await site.client.get(f"/b/thread/{no}")
        assert page.status_code == 200 and "This file could not be processed." in page.text
        assert (await site.client.get(f"/media/b/{file['tim']}.webm")).status_code == 404
        assert (await site.client.get(f"/b/thread/{no}.json")).status_code == 200
    finally:
        await site.runtime.stop(grace=5)


async def test_two_workers_never_work_on_the_same_file(site: Site, clip: bytes) -> None:
    op = (await site.post(clip))["no"]
    posted = [op, (await site.post(clip, thread=op))["no"], (await site.post(clip, thread=op))["no"]]
    finishers = [VideoFinisher(site.media, limits_from_settings(site.settings)) for _ in range(2)]
    results = await asyncio.gather(*(f.run(limit=10) for f in finishers))
    finished = [item for result in results for item in result]
    assert len(finished) == 3 and len({item.tim for item in finished}) == 3
    assert all(item.status == "ready" for item in finished)
    # An opening post's thumbnail fits the larger box, a reply's the smaller.
    boxes = {item.post_id: item.file.thumb_width for item in finished}
    assert max(boxes.values()) > 125 >= min(boxes.values())
    for no in posted:
        assert (await site.first_file(no, op))["thumb_url"].endswith("s.jpg")
    assert await finishers[0].run(limit=10) == []  # nothing is left waiting


async def test_a_file_that_keeps_breaking_workers_is_given_up(site: Site, clip: bytes) -> None:
    """A worker killed mid-job leaves its lease to run out; after the attempts are used up
    the file is marked failed instead of being tried for ever."""
    no = (await site.post(clip))["no"]
    tim = (await site.first_file(no))["tim"]
    dying = VideoFinisher(site.media, limits_from_settings(site.settings), max_attempts=2)
    from datetime import timedelta

    from imageboard.media import repository as media_repo

    for _ in range(2):  # each claim is an attempt whose worker "dies": the lease is let run out
        async with site.db.writer() as session:
            claimed = await media_repo.claim_processing(
                session,
                now=site.media.clock(),
                lease_until=site.media.clock() - timedelta(minutes=1),
                board_uri="b",
                limit=5,
            )
            assert [row.attachment.tim for row in claimed] == [tim]
    [done] = await dying.run()
    assert done.status == "failed" and "attempts" in done.reason
    assert (await site.first_file(no))["thumb_url"].endswith("failed.svg")


async def test_a_worker_with_nothing_waiting_takes_no_write_transaction(site: Site, clip: bytes) -> None:
    finisher = VideoFinisher(site.media, limits_from_settings(site.settings))
    with write_statements(site.db) as idle:
        assert await finisher.run(board_uri="b", limit=4) == []
    assert idle == []  # on SQLite, no turn at the single writer for a post without videos
    await site.post(clip)
    with write_statements(site.db) as busy:
        [finished] = await finisher.run(board_uri="b", limit=4)
    assert finished.status == "ready"
    assert any("UPDATE attachments" in s for s in busy)  # the claim, once a file waits


async def test_only_posts_with_a_waiting_file_send_the_worker_to_the_database(site: Site, clip: bytes) -> None:
    """Every post with files is an event for the ``thumbnails`` group; pictures are finished
    while posting, so their events say that nothing waits and cost the worker no query."""
    picture = await site.client.post(
        "/b/post",
        data={"com": "a picture", "resto": "0"},
        files={"upfile": ("cat.png", samples.png_bytes(64, 48), "image/png")},
        headers=JSON,
    )
    assert picture.status_code == 201, picture.text
    video_no = (await site.post(clip))["no"]
    announced = {event.post_no: event for event in await site.events(PostCreated)}
    assert announced[picture.json()["no"]].files == 1 and announced[picture.json()["no"]].waiting_files == 0
    assert announced[video_no].files == 1 and announced[video_no].waiting_files == 1

    registry = WorkerRegistry()
    register(registry, site.runtime)
    handler = registry.registrations[MEDIA_GROUP].handler
    asked = lambda statement: "FROM attachments" in statement  # noqa: E731
    with write_statements(site.db, asked, reads=True) as sent:
        await handler(announced[picture.json()["no"]], None)  # type: ignore[arg-type]
    assert sent == []
    with write_statements(site.db, asked, reads=True) as sent:
        await handler(announced[video_no], None)  # type: ignore[arg-type]
    assert sent, "the worker did not look for the waiting video"
    assert (await site.first_file(video_no))["thumb_url"].endswith(f"/{(await site.first_file(video_no))['tim']}s.jpg")
    # An event that does not say (an approved post, an older producer) is asked about.
    unsure = announced[picture.json()["no"]].model_copy(update={"waiting_files": None})
    with write_statements(site.db, asked, reads=True) as sent:
        await handler(unsure, None)  # type: ignore[arg-type]
    assert sent

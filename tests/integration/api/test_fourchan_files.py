"""4chan's file fields from our multi-file posts, through the serialisers (media uploads are
not wired into posting yet, so posts with files are built directly)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from imageboard.api.fourchan_schemas import (
    FourchanLimits,
    board_json,
    catalog_document,
    escape,
    index_document,
    now_string,
    post_json,
    semantic_url,
    thread_document,
)
from imageboard.api.v1_schemas import post_out
from imageboard.boards import BoardPage, BoardView, PostView, ThreadState, ThreadView
from imageboard.media import FileView

from .fourchan_contract import check_board, check_catalog_document, check_index_document, check_thread_document

T0 = datetime(2026, 1, 5, 17, 30, 16, tzinfo=UTC)


def board(**changes: object) -> BoardView:
    base = BoardView(
        uri="b", title="Random", description="", work_safe=False, threads_per_page=15, pages=10, bump_limit=300,
        image_limit=150, max_comment_length=2000, forced_anonymous=False, default_name="Anonymous",
        poster_ids=False, text_only=False, require_subject=False, require_file=True, country_flags=False,
        cyclic_limit=250, archive_enabled=True, archive_days=7, max_files=4, max_file_mb=8,
        allowed_media="jpg,png,gif", unique_files=False, last_post_no=100, created_at=T0, updated_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def file(tim: int, *, name: str = "cat", ext: str = ".png", **changes: object) -> FileView:
    content = f"file {tim}".encode()
    base = FileView(
        tim=tim, filename=name, ext=ext, kind="image", mime="image/png", size=2048, width=800, height=600,
        thumb_width=250, thumb_height=188, md5_base64=base64.b64encode(hashlib.md5(content).digest()).decode(),  # noqa: S324
        sha256=hashlib.sha256(content).hexdigest(), spoiler=False, duration=None, has_audio=None,
        url=f"https://media.example.test/b/{tim}{ext}", thumb_url=f"https://media.example.test/b/{tim}s.jpg",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def post(no: int, thread: int, *files: FileView, **changes: object) -> PostView:
    base = PostView(
        board="b", thread_no=thread, no=no, is_op=no == thread, created_at=T0 + timedelta(seconds=no), name="Anonymous",
        tripcode=None, capcode=None, subject="", comment=f"post {no}", comment_html=f"post {no}", poster_id=None,
        country_code=None, country_name=None, sage=False, edited_at=None, files=list(files),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def state(no: int, **changes: object) -> ThreadState:
    base = ThreadState(
        board="b", no=no, subject="", created_at=T0, bumped_at=T0, updated_at=T0 + timedelta(minutes=5),
        reply_count=0, file_count=0, sticky=False, locked=False, cyclic=False, archived=False, archived_at=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_first_file_maps_to_4chan_fields_and_v1_keeps_all() -> None:
    first = file(1767634216123, name='holiday "best" <1> & co', ext=".jpg")
    second = file(1767634216124, name="second", ext=".webm")
    op = post(10, 10, first, second, subject="Files")
    data = post_json(op, board())
    assert data["tim"] == 1767634216123 and isinstance(data["tim"], int)
    assert data["filename"] == "holiday &quot;best&quot; &lt;1&gt; &amp; co"
    assert data["ext"] == ".jpg" and data["fsize"] == 2048
    assert (data["w"], data["h"], data["tn_w"], data["tn_h"]) == (800, 600, 250, 188)
    assert data["md5"] == first.md5_base64 and len(data["md5"]) == 24
    assert base64.b64decode(data["md5"]) == hashlib.md5(b"file 1767634216123").digest()  # noqa: S324
    assert "spoiler" not in data and "filedeleted" not in data
    assert "second" not in str(data)  # 4chan posts hold one file

    v1 = post_out(op)
    assert [f.tim for f in v1.files] == [first.tim, second.tim]
    assert v1.files[0].filename == 'holiday "best" <1> & co'  # plain text in our own API
    assert v1.files[1].url == "https://media.example.test/b/1767634216124.webm"


def test_spoiler_and_deleted_files() -> None:
    spoilered = post_json(post(11, 10, file(5, spoiler=True)), board())
    assert spoilered["spoiler"] == 1 and spoilered["tim"] == 5
    deleted = post_json(post(12, 10, file(6, deleted=True), file(7)), board())
    assert deleted["filedeleted"] == 1
    assert not {"tim", "filename", "ext", "fsize", "md5", "w", "h", "tn_w", "tn_h", "spoiler"} & set(deleted)
    v1 = post_out(post(12, 10, file(6, deleted=True)))
    assert v1.files[0].deleted and v1.files[0].url is None and v1.files[0].thumb_url is None
    assert "filedeleted" not in post_json(post(13, 10), board())


def test_files_without_a_thumbnail_have_a_zero_size_one() -> None:
    audio = file(8, ext=".mp3", kind="audio", mime="audio/mpeg", width=0, height=0,
                 thumb_url="/static/img/audio.png", thumb_width=125, thumb_height=125)
    data = post_json(post(14, 10, audio), board())
    assert (data["ext"], data["tn_w"], data["tn_h"], data["w"], data["h"]) == (".mp3", 0, 0, 0, 0)
    assert post_out(post(14, 10, audio)).files[0].thumb_url == "/static/img/audio.png"


def test_thread_counts_image_replies_and_limits() -> None:
    op = post(10, 10, file(1))
    replies = [post(11, 10, file(2)), post(12, 10), post(13, 10, file(3), file(4)), post(14, 10, file(5, deleted=True))]
    view = ThreadView(
        board=board(image_limit=3, bump_limit=4), state=state(10, reply_count=4, file_count=3, sticky=True),
        op=op, replies=replies, unique_posters=3,
    )
    document = thread_document(view)
    check_thread_document(document)
    first = document["posts"][0]
    assert first["images"] == 3  # the replies' files: 2, 3 and 4 (not the OP's, not the deleted 5)
    assert first["imagelimit"] == 1 and first["bumplimit"] == 1 and first["sticky"] == 1
    assert first["unique_ips"] == 3 and first["tim"] == 1
    assert document["posts"][4]["filedeleted"] == 1


def test_index_and_catalog_omitted_images() -> None:
    op = post(10, 10, file(1), subject="Thread with images")
    shown = [post(20, 10, file(2)), post(21, 10)]
    view = ThreadView(
        board=board(), state=state(10, reply_count=12, file_count=7), op=op, replies=shown, omitted_posts=10,
    )
    page = BoardPage(board=board(), threads=[view], page=1, page_count=1)
    index = index_document(page)
    check_index_document(index)
    first = index["threads"][0]["posts"][0]
    assert (first["replies"], first["images"], first["omitted_posts"], first["omitted_images"]) == (12, 7, 10, 6)
    assert first["semantic_url"] == "thread-with-images"
    catalog = catalog_document([page])
    check_catalog_document(catalog)
    entry = catalog[0]["threads"][0]
    assert entry["omitted_images"] == 6 and [r["no"] for r in entry["last_replies"]] == [20, 21]
    assert entry["last_modified"] == int((T0 + timedelta(minutes=5)).timestamp())


def test_archived_op_fields() -> None:
    archived_at = T0 + timedelta(hours=2)
    view = ThreadView(
        board=board(), state=state(10, archived=True, archived_at=archived_at, locked=False),
        op=post(10, 10), replies=[],
    )
    first = thread_document(view)["posts"][0]
    assert first["archived"] == 1 and first["closed"] == 1 and first["archived_on"] == int(archived_at.timestamp())


def test_capcode_trip_id_country() -> None:
    data = post_json(
        post(10, 10, name="<b>moot</b>", tripcode="!Ep8pui8Vw2!!AbCdEfGhIjK", capcode="admin",
             poster_id="Ab+.cdEf", country_code="DE", country_name="Germany"),
        board(),
    )
    assert data["name"] == "&lt;b&gt;moot&lt;/b&gt;" and data["trip"] == "!Ep8pui8Vw2!!AbCdEfGhIjK"
    assert (data["capcode"], data["id"]) == ("admin", "Ab+.cdEf")
    assert (data["country"], data["country_name"]) == ("DE", "Germany")


def test_now_semantic_url_and_escape() -> None:
    assert now_string(datetime(2018, 12, 31, 22, 5, 48, tzinfo=UTC)) == "12/31/18(Mon)17:05:48"
    assert semantic_url("Welcome to /po/!", "") == "welcome-to-po"
    assert semantic_url("", "Let's start a new thread since the previous one has been archived") == (
        "lets-start-a-new-thread-since-the-previous-one"
    )
    assert semantic_url("", "") == ""
    assert semantic_url("Ünïcödé café", "") == "unicode-cafe"
    assert len(semantic_url("x" * 80, "")) == 50
    assert escape("a'b\"c<d>&") == "a&#039;b&quot;c&lt;d&gt;&amp;"


def test_board_json_limits_and_flags() -> None:
    limits = FourchanLimits(max_filesize=8_000_000, max_webm_filesize=6_000_000, max_webm_duration=300,
                            cooldown_threads=120, cooldown_replies=15, cooldown_images=20)
    data = board_json(
        board(text_only=True, forced_anonymous=True, require_subject=True, archive_enabled=False, description='"x"'),
        limits,
    )
    check_board(data)
    assert data["max_filesize"] == 8_000_000 and data["max_webm_duration"] == 300
    assert data["cooldowns"] == {"threads": 120, "replies": 15, "images": 20}
    assert data["text_only"] == 1 and data["forced_anon"] == 1 and data["require_subject"] == 1
    assert "spoilers" not in data and "is_archived" not in data
    assert data["meta_description"] == "&quot;x&quot;"

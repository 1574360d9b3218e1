"""The thinnest Python servers: bare ASGI applications that do only a benchmark's unavoidable
work, served by uvicorn exactly as the site is (same process count, uvloop, httptools, no
access log). They are not baselines but floors: what any Python web server reaches on this
machine before it does anything a site does beyond that work. Where the site misses a
target, a floor tells whether the gap is the site's or the machine's.

``reply_app`` (the writes benchmark, SQLite): reads the urlencoded reply (4chan's fields),
renders its comment with the site's markup renderer and makes the raw driver's transaction
(``driver.SqliteReplies``); answers 201 with the number. No screen, no events, no search
row, no cache: the driver baseline's rows and nothing more.

``upload_app`` (the uploads benchmark): reads the multipart body, takes the ``upfile`` part
and makes the reply-box thumbnail with libvips in a thread, as the libvips baseline does.
``FLOOR_UPLOAD_WORK`` adds what the media issue requires of every stored upload: ``hashes``
(SHA-256 for the content address, MD5 for the 4chan API), ``stored`` (also both files
written the way the site's local storage writes them: a temporary name, fsync, rename,
fsync of the directory). No validation, no metadata removal, no post row.

    uvicorn --app-dir bench floors:reply_app      # FLOOR_SQLITE, FLOOR_BOARD, FLOOR_BOARD_ID
    uvicorn --app-dir bench floors:upload_app     # FLOOR_OUT, FLOOR_UPLOAD_WORK
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

UPLOAD_WORK = ("thumbnail", "hashes", "stored")


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, document: dict[str, object]) -> None:
    body = json.dumps(document).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _harness(scope: Scope, receive: Receive, send: Send) -> bool:
    """Answers what the harness asks of every server (the lifespan, a readiness GET); False
    for a benchmark's request."""
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return True
    if scope["method"] == "GET":
        await _answer(send, 200, {})
        return True
    return False


# --- text replies ------------------------------------------------------------------------------


class _Replies:
    def __init__(self) -> None:
        from bulk import render
        from driver import SqliteReplies, sqlite_connect

        self.board = os.environ["FLOOR_BOARD"]
        conn = sqlite_connect(os.environ["FLOOR_SQLITE"])
        board_id = int(os.environ["FLOOR_BOARD_ID"])
        self.writer = SqliteReplies(conn, board_id)
        # Thread numbers to row ids, read once: a lean server would keep them too.
        rows = conn.execute("SELECT no, id FROM threads WHERE board_id = ?", (board_id,)).fetchall()
        self.threads: dict[int, int] = dict(rows)
        self.render = render

    def reply(self, body: bytes) -> int:
        fields = dict(parse_qsl(body.decode()))
        thread_no, text = int(fields["resto"]), fields["com"]
        return self.writer.write(self.threads[thread_no], text, self.render(text, self.board, thread_no, ()))


_replies: _Replies | None = None


async def reply_app(scope: Scope, receive: Receive, send: Send) -> None:
    global _replies
    if await _harness(scope, receive, send):
        return
    if _replies is None:
        _replies = _Replies()
    number = _replies.reply(await _body(receive))
    await _answer(send, 201, {"no": number})


# --- uploads -----------------------------------------------------------------------------------


def _upload_part(body: bytes, content_type: bytes) -> bytes:
    boundary = b"--" + content_type.partition(b"boundary=")[2].strip(b'"')
    start = body.index(b'name="upfile"')
    start = body.index(b"\r\n\r\n", start) + 4
    return body[start : body.index(b"\r\n" + boundary, start)]


def _store(directory: Path, name: str, data: bytes) -> None:
    target = directory / name
    temp = directory / f".tmp-{secrets.token_hex(8)}-{name}"
    with temp.open("xb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temp, target)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _process(data: bytes, work: int, out: Path) -> None:
    import pyvips
    from uploads import REPLY_BOX, THUMB_QUALITY

    image = pyvips.Image.thumbnail_buffer(data, REPLY_BOX, height=REPLY_BOX, size="down")
    thumbnail = image.jpegsave_buffer(Q=THUMB_QUALITY, optimize_coding=True, keep=pyvips.enums.ForeignKeep.NONE)
    if work < UPLOAD_WORK.index("hashes"):
        return
    address = hashlib.sha256(data).hexdigest()
    hashlib.md5(data, usedforsecurity=False).hexdigest()
    if work < UPLOAD_WORK.index("stored"):
        return
    _store(out, address, data)
    _store(out, f"{address}s.jpg", thumbnail)


async def upload_app(scope: Scope, receive: Receive, send: Send) -> None:
    if await _harness(scope, receive, send):
        return
    body = await _body(receive)
    data = _upload_part(body, dict(scope["headers"])[b"content-type"])
    work = UPLOAD_WORK.index(os.environ.get("FLOOR_UPLOAD_WORK", "stored"))
    await asyncio.get_running_loop().run_in_executor(None, _process, data, work, Path(os.environ["FLOOR_OUT"]))
    await _answer(send, 201, {"no": 1})

"""Concurrent posters (and readers) against a running site, and the check that what they
were told matches what was stored.

Every post carries a token (``ld<run> p<poster> s<seq>``) in its comment and, when it has a
file, a PNG of a size no other image in the pool has. Afterwards :func:`verify` reads the
board back through the 4chan JSON API and the database and matches both against the answers:

* every 2xx answer is one stored post, with the number the answer gave and its file;
* no stored post lacks a 2xx answer, except posts whose answer never arrived (counted);
* no post number is used twice, and numbers rise in the order posts were written.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests import media_samples as samples
from tests.reliability.services import Rows

TOKEN = re.compile(r"ld([0-9a-f]{6}) p(\d+) s(\d+)")


@dataclass
class Attempt:
    poster: int
    seq: int
    token: str
    thread_no: int  # 0: a new thread
    image: tuple[int, int] | None  # the attached PNG's size, None: text only
    started: float
    ended: float = 0.0
    status: int | None = None  # None: no answer (connection refused or reset, timeout)
    no: int | None = None
    error: str = ""


@dataclass
class Read:
    started: float
    ended: float
    status: int | None
    error: str = ""


@dataclass
class LoadResult:
    run: str
    attempts: list[Attempt]
    reads: list[Read]
    seconds: float
    started_at: float  # time.monotonic() when the load began; attempt times count from it

    def count(self, predicate: Callable[[int | None], bool]) -> int:
        return sum(1 for a in self.attempts if predicate(a.status)) + sum(1 for r in self.reads if predicate(r.status))

    @property
    def requests(self) -> int:
        return len(self.attempts) + len(self.reads)

    @property
    def server_errors(self) -> int:
        return self.count(lambda s: s is not None and s >= 500)

    @property
    def accepted(self) -> int:
        return sum(1 for a in self.attempts if a.status is not None and 200 <= a.status < 300)


class ImagePool:
    """PNGs of distinct sizes, made once; a post's file is known by its size."""

    def __init__(self, count: int = 24) -> None:
        self.sizes = [(40 + 3 * i, 30 + 2 * i) for i in range(count)]
        self.data = {size: samples.png_bytes(*size) for size in self.sizes}

    def pick(self, rng: random.Random) -> tuple[tuple[int, int], bytes]:
        size = rng.choice(self.sizes)
        return size, self.data[size]


def make_threads(url: str, board: str, count: int, run: str) -> list[int]:
    """Open ``count`` threads for the posters to reply to."""
    numbers = []
    with httpx.Client(base_url=url, timeout=30, headers={"accept": "application/json"}) as client:
        for i in range(count):
            answer = client.post(f"/{board}/post", data={"sub": f"load {run} thread {i}", "com": f"ld{run} p999 s{i}"})
            answer.raise_for_status()
            numbers.append(int(answer.json()["no"]))
    return numbers


async def run_load(
    url: str,
    board: str,
    *,
    posters: int,
    seconds: float,
    threads: list[int],
    run: str | None = None,
    readers: int = 0,
    image_share: float = 0.3,
    new_thread_share: float = 0.03,
    request_timeout: float = 30.0,
    pause: float = 0.0,
    images: ImagePool | None = None,
    seed: int = 1,
) -> LoadResult:
    """Post (and read) from ``posters`` (and ``readers``) concurrent tasks for ``seconds``.

    Replies go to the active threads (``threads``, at first); a new thread joins them and
    retires the oldest, as threads fall off a real board, so thread sizes stay stable over
    a long run and what a request costs does not drift upwards with the run's length."""
    run = run or secrets.token_hex(3)
    active = list(threads)
    pool = images or ImagePool()
    attempts: list[Attempt] = []
    reads: list[Read] = []
    started = time.monotonic()
    deadline = started + seconds
    limits = httpx.Limits(max_connections=posters + readers + 4, max_keepalive_connections=posters + readers + 4)

    async with httpx.AsyncClient(base_url=url, timeout=request_timeout, limits=limits) as client:

        async def poster(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            seq = 0
            while time.monotonic() < deadline:
                seq += 1
                token = f"ld{run} p{index} s{seq}"
                thread_no = 0 if rng.random() < new_thread_share else rng.choice(active)
                image = pool.pick(rng) if rng.random() < image_share else None
                attempt = Attempt(index, seq, token, thread_no, image[0] if image else None, time.monotonic() - started)
                attempts.append(attempt)
                data = {"com": f"{token}\n>greentext {seq}", "resto": str(thread_no), "name": f"poster{index}"}
                if thread_no == 0:
                    data["sub"] = f"thread by poster {index}"
                files = {"upfile": (f"p{index}-s{seq}.png", image[1], "image/png")} if image else None
                try:
                    answer = await client.post(
                        f"/{board}/post", data=data, files=files, headers={"accept": "application/json"}
                    )
                    attempt.status = answer.status_code
                    if 200 <= answer.status_code < 300:
                        attempt.no = int(answer.json()["no"])
                        if thread_no == 0:
                            active.append(attempt.no)
                            del active[: max(0, len(active) - len(threads))]
                    else:
                        attempt.error = _message(answer)
                except httpx.HTTPError as exc:
                    attempt.error = f"{type(exc).__name__}: {exc}"
                attempt.ended = time.monotonic() - started
                if pause:
                    await asyncio.sleep(pause)

        async def reader(index: int) -> None:
            rng = random.Random(seed * 7919 + index)
            while time.monotonic() < deadline:
                thread = rng.choice(active)
                path = rng.choice(
                    [
                        f"/{board}/",
                        f"/{board}/catalog",
                        f"/{board}/catalog.json",
                        f"/{board}/thread/{thread}",
                        f"/{board}/thread/{thread}.json",
                        f"/api/v1/boards/{board}/threads/{thread}",
                    ]
                )
                read = Read(time.monotonic() - started, 0.0, None)
                reads.append(read)
                try:
                    answer = await client.get(path)
                    read.status = answer.status_code
                    if answer.status_code >= 400:
                        read.error = f"{path}: {_message(answer)}"
                except httpx.HTTPError as exc:
                    read.error = f"{path}: {type(exc).__name__}: {exc}"
                read.ended = time.monotonic() - started
                await asyncio.sleep(0.01)

        tasks = [asyncio.create_task(poster(i)) for i in range(posters)]
        tasks += [asyncio.create_task(reader(i)) for i in range(readers)]
        await asyncio.gather(*tasks)
    return LoadResult(run, attempts, reads, time.monotonic() - started, started)


_PAGE_MESSAGE = re.compile(r'class="error-message">([^<]*)<')


def _message(answer: httpx.Response) -> str:
    """The error message of an answer: from the JSON error, or from the HTML error page."""
    try:
        return f"{answer.status_code} {answer.json()['error']['message']}"
    except Exception:
        found = _PAGE_MESSAGE.search(answer.text)
        return f"{answer.status_code} {found.group(1).strip() if found else repr(answer.text[:200])}"


# --------------------------------------------------------------------------- verification


@dataclass
class StoredPost:
    no: int
    thread_no: int
    comment_html: str
    file: dict[str, Any] | None


@dataclass
class Integrity:
    tried: int = 0
    accepted: int = 0  # 2xx answers
    refused: int = 0  # 4xx answers
    server_errors: int = 0  # 5xx answers
    unanswered: int = 0  # no answer at all
    stored: int = 0  # posts of this run found on the board
    stored_unanswered: int = 0  # stored, but the answer was lost (allowed: counted)
    files_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {
            "tried": self.tried, "accepted_2xx": self.accepted, "refused_4xx": self.refused,
            "server_errors_5xx": self.server_errors, "unanswered": self.unanswered, "stored": self.stored,
            "stored_without_answer": self.stored_unanswered, "files_checked": self.files_checked,
            "problems": len(self.problems),
        }  # fmt: skip


def board_posts(url: str, board: str) -> dict[int, StoredPost]:
    """Every post of every live thread of the board, read through the 4chan JSON API."""
    posts: dict[int, StoredPost] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        pages = client.get(f"/{board}/threads.json")
        pages.raise_for_status()
        for page in pages.json():
            for thread in page["threads"]:
                answer = client.get(f"/{board}/thread/{thread['no']}.json")
                answer.raise_for_status()
                for post in answer.json()["posts"]:
                    no = int(post["no"])
                    thread_no = int(post["resto"]) or no
                    file = (
                        {k: post[k] for k in ("tim", "ext", "w", "h", "md5", "filename", "fsize")}
                        if "tim" in post
                        else None
                    )
                    posts[no] = StoredPost(no, thread_no, post.get("com", ""), file)
    return posts


def verify(url: str, board: str, result: LoadResult, rows: Rows, *, check_files: bool = True) -> Integrity:
    """Match the answers of a load run against what the board holds (API and database)."""
    report = Integrity(tried=len(result.attempts))
    by_token: dict[str, Attempt] = {a.token: a for a in result.attempts}
    for attempt in result.attempts:
        if attempt.status is None:
            report.unanswered += 1
        elif 200 <= attempt.status < 300:
            report.accepted += 1
        elif attempt.status >= 500:
            report.server_errors += 1
        else:
            report.refused += 1

    # Two answers must never carry the same number.
    answered = Counter(a.no for a in result.attempts if a.no is not None)
    for no, times in answered.items():
        if times > 1:
            report.problems.append(f"post number {no} was given to {times} answers")

    api = board_posts(url, board)
    (board_id,) = rows("SELECT id FROM boards WHERE uri = $1", board)[0]
    db_posts = rows("SELECT id, no, comment FROM posts WHERE board_id = $1 ORDER BY id", board_id)
    db_files = dict(
        rows(
            "SELECT p.no, count(a.id) FROM posts p JOIN attachments a ON a.post_id = p.id "
            "WHERE p.board_id = $1 GROUP BY p.no",
            board_id,
        )
    )
    duplicates = rows("SELECT no, count(*) FROM posts WHERE board_id = $1 GROUP BY no HAVING count(*) > 1", board_id)
    for no, times in duplicates:
        report.problems.append(f"post number {no} is stored {times} times")
    numbers = [no for _, no, _ in db_posts]
    if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
        report.problems.append("post numbers do not rise in the order the posts were written")
    if set(numbers) != set(api):
        report.problems.append(
            f"database and API disagree: {len(set(numbers) - set(api))} posts only in the database, "
            f"{len(set(api) - set(numbers))} only in the API"
        )

    seen: dict[str, int] = {}
    for _, no, comment in db_posts:
        found = TOKEN.search(comment or "")
        if found is None or found.group(1) != result.run or found.group(2) == "999":
            continue
        token = found.group(0)
        if token in seen:
            report.problems.append(f"{token} is stored twice: posts {seen[token]} and {no}")
            continue
        seen[token] = no
        report.stored += 1
        attempt = by_token.get(token)
        if attempt is None:
            report.problems.append(f"post {no} carries {token}, which no poster sent")
            continue
        if attempt.status is None:
            report.stored_unanswered += 1
        elif not 200 <= attempt.status < 300:
            report.problems.append(f"post {no} ({token}) is stored although its answer was {attempt.error}")
        elif attempt.no != no:
            report.problems.append(f"{token} was answered as post {attempt.no} but is stored as {no}")

    with httpx.Client(base_url=url, timeout=60) as client:
        for attempt in result.attempts:
            if attempt.status is None or not 200 <= attempt.status < 300:
                continue
            no = seen.get(attempt.token)
            if no is None:
                report.problems.append(f"{attempt.token} was answered {attempt.status} (post {attempt.no}) but is lost")
                continue
            stored = api.get(no)
            if stored is None or attempt.token not in stored.comment_html:
                report.problems.append(f"post {no} ({attempt.token}) is not shown by the 4chan API")
                continue
            if attempt.thread_no and stored.thread_no != attempt.thread_no:
                report.problems.append(f"post {no} is in thread {stored.thread_no}, not {attempt.thread_no}")
            expected_files = 1 if attempt.image else 0
            if db_files.get(no, 0) != expected_files:
                report.problems.append(f"post {no} has {db_files.get(no, 0)} files stored, sent {expected_files}")
                continue
            if attempt.image is None:
                if stored.file is not None:
                    report.problems.append(f"post {no} shows a file it was not sent with")
                continue
            file = stored.file
            if (
                file is None
                or (file["w"], file["h"]) != attempt.image
                or file["filename"] != f"p{attempt.poster}-s{attempt.seq}"
            ):
                report.problems.append(f"post {no} shows {file} instead of its {attempt.image} PNG")
                continue
            if check_files:
                original = client.get(f"/media/{board}/{file['tim']}{file['ext']}")
                thumb = client.get(f"/media/{board}/{file['tim']}s.jpg")
                digest = base64.b64encode(hashlib.md5(original.content, usedforsecurity=False).digest()).decode()
                if original.status_code != 200 or digest != file["md5"] or len(original.content) != file["fsize"]:
                    report.problems.append(f"post {no}: the stored file does not match its record")
                elif thumb.status_code != 200 or not thumb.content.startswith(b"\xff\xd8"):
                    report.problems.append(f"post {no}: the thumbnail is missing")
                else:
                    report.files_checked += 1
    return report

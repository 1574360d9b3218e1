"""``imageboard demo --posts N`` on both databases: the command itself (a process of its
own), then every invariant the posting path keeps, read back from the database, the pages
and the search index."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.boards.markup import QuoteRef, render_comment
from imageboard.boards.models import Board, Post, PostQuote, Thread
from imageboard.cli import DEFAULT_BOARDS
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.search import SearchService

from ..conftest import SECRET

CLI = str(Path(sys.executable).with_name("imageboard"))
POSTS = 3000
SMALL = BoardSpec(uri="small", title="Small", require_file=False, threads_per_page=2, pages=2)
FILES_ONLY = BoardSpec(uri="pics", title="Pictures")  # threads need a file: no text demo posts


def demo(database: Database, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOARD_")}
    env |= {
        "IMAGEBOARD_DATABASE_URL": database.url,
        "IMAGEBOARD_DATA_DIR": str(data_dir),
        "IMAGEBOARD_SECRET_KEY": SECRET.decode(),
    }
    return subprocess.run([CLI, "demo", *args], env=env, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture
async def loaded(database: Database, tmp_path: Path) -> tuple[Database, str]:
    boards = BoardsService(database, secret=SECRET)
    for spec in (*DEFAULT_BOARDS, SMALL, FILES_ONLY):
        await boards.create_board(spec)
    # Posts made before the load: numbers continue after them, their thread counts in the bump order.
    first = await boards.create_post(NewPost(board="b", thread_no=0, subject="Before", comment="made by hand"))
    await boards.create_post(NewPost(board="b", thread_no=first.thread_no, comment="a reply by hand"))
    assert await SearchService(database).reindex() == 2
    done = demo(database, tmp_path, "--posts", str(POSTS), "--seed", "7")
    assert done.returncode == 0, done.stderr
    return database, done.stdout


async def test_the_command_reports_what_it_wrote(loaded: tuple[Database, str]) -> None:
    _, stdout = loaded
    match = re.fullmatch(
        r"wrote (\d+) posts in (\d+) threads \((\d+) archived\) in [\d.]+ s \(([\d,]+) posts/s\)\n", stdout
    )
    assert match, stdout
    assert int(match.group(1)) == POSTS
    assert int(match.group(3)) > 0  # /small/ holds 4 live threads
    assert int(match.group(4).replace(",", "")) > 0


async def test_numbers_counts_and_bumps(loaded: tuple[Database, str]) -> None:
    db, _ = loaded
    async with db.reader() as session:
        boards = {b.id: b for b in (await session.execute(select(Board))).scalars()}
        threads = {t.id: t for t in (await session.execute(select(Thread))).scalars()}
        posts = (await session.execute(select(Post).order_by(Post.board_id, Post.no))).scalars().all()
    assert len(posts) == POSTS + 2
    by_board = defaultdict(list)
    for post in posts:
        by_board[post.board_id].append(post)
    uris = {b.uri: b for b in boards.values()}
    assert uris["pics"].id not in by_board and uris["pics"].last_post_no == 0
    for board_id, board_posts in by_board.items():
        numbers = [p.no for p in board_posts]
        assert len(set(numbers)) == len(numbers)  # unique per board
        assert boards[board_id].last_post_no == max(numbers)  # and the board moved past them
        times = [p.created_at for p in board_posts]
        assert times == sorted(times)  # a later number is a later post
    assert len(by_board[uris["b"].id]) > len(by_board[uris["small"].id]) > 0
    per_thread = defaultdict(list)
    for post in posts:
        per_thread[post.thread_id].append(post)
    for thread in threads.values():
        board = boards[thread.board_id]
        op, *replies = per_thread[thread.id]
        assert op.is_op and op.no == thread.no and not any(p.is_op for p in replies)
        assert thread.reply_count == len(replies)
        assert thread.file_count == 0
        bumps = [p.created_at for p in replies[: board.bump_limit] if not p.sage]
        assert thread.bumped_at == max([op.created_at, *bumps])
        assert thread.updated_at >= max(p.created_at for p in per_thread[thread.id])
    for board in boards.values():
        live = [t for t in threads.values() if t.board_id == board.id and not t.archived]
        archived = [t for t in threads.values() if t.board_id == board.id and t.archived]
        assert len(live) <= board.threads_per_page * board.pages
        if archived:  # the archived ones are those the live ones out-bumped
            assert max(t.bumped_at for t in archived) <= min(t.bumped_at for t in live)
            assert all(t.archived_at is not None and t.archived_at >= t.bumped_at for t in archived)
    assert len([t for t in threads.values() if t.board_id == uris["small"].id and t.archived]) > 0
    # Realistic: some threads long, most short; names and tripcodes now and then; sage sometimes.
    sizes = sorted(t.reply_count for t in threads.values())
    assert sizes[len(sizes) // 2] < 30 < sizes[-1]
    assert any(p.tripcode for p in posts) and any(p.name != "Anonymous" for p in posts)
    assert any(p.sage for p in posts)
    tech = [p for p in posts if p.board_id == uris["tech"].id]
    assert tech and all(p.poster_id for p in tech)  # /tech/ shows poster IDs


async def test_html_quotes_and_backlinks(loaded: tuple[Database, str]) -> None:
    db, _ = loaded
    async with db.reader() as session:
        uris = {b.id: b.uri for b in (await session.execute(select(Board))).scalars()}
        thread_nos = {t.id: t.no for t in (await session.execute(select(Thread))).scalars()}
        posts = (await session.execute(select(Post))).scalars().all()
        quotes = (await session.execute(select(PostQuote))).scalars().all()
    numbers = {(p.board_id, p.no): p for p in posts}
    quoted_by = defaultdict(list)
    for quote in quotes:
        quoted_by[quote.source_post_id].append(quote.target_no)
    assert len(quotes) > POSTS // 10
    for post in posts:
        targets = {}
        for no in quoted_by.get(post.id, []):
            target = numbers[(post.board_id, no)]  # quotes point at posts that exist...
            assert target.thread_id == post.thread_id and target.no < post.no  # ...earlier in the thread
            targets[QuoteRef(uris[post.board_id], no)] = thread_nos[post.thread_id]
        expected = render_comment(
            post.comment,
            board=uris[post.board_id],
            thread_no=thread_nos[post.thread_id],
            targets=targets,
            known_boards=set(uris.values()),
        )
        assert post.comment_html == expected, post.comment


async def test_pages_render_and_search_finds_the_posts(loaded: tuple[Database, str], tmp_path: Path) -> None:
    db, _ = loaded
    async with db.reader() as session:
        count = int((await session.execute(select(func.count()).select_from(Post))).scalar_one())
        live = select(Thread).where(Thread.archived.is_(False)).order_by(Thread.reply_count.desc())
        busiest = (await session.execute(live)).scalars().first()
        assert busiest is not None
        reply = (
            await session.execute(select(Post).where(Post.thread_id == busiest.id, Post.is_op.is_(False)).limit(1))
        ).scalar_one()
        uri = (await session.execute(select(Board.uri).where(Board.id == busiest.board_id))).scalar_one()
    search = SearchService(db)
    assert await search.indexed_count() == count
    word = max(re.findall(r"[A-Za-z]{6,}", reply.comment), key=len)
    found, cursor = set(), None
    while reply.no not in found:  # newest first, a page at a time
        page = await search.search(word, board=uri, cursor=cursor, limit=100)
        found |= {hit.no for hit in page.hits}
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert reply.no in found, word
    settings = Settings(data_dir=tmp_path, secret_key=SECRET.decode(), environment="development", antispam="off")
    app = create_app(settings, database=db)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        thread = await client.get(f"/{uri}/thread/{busiest.no}")
        assert thread.status_code == 200
        assert f'id="p{reply.no}"' in thread.text
        for path in ("/", f"/{uri}/", f"/{uri}/catalog", "/small/archive", f"/{uri}/thread/{busiest.no}.json"):
            assert (await client.get(path)).status_code == 200, path

"""The boards context against both real databases."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from imageboard.boards import BoardSpec, BoardsService, NewPost
from imageboard.core.cache import Memo
from imageboard.core.db import Database
from imageboard.core.errors import Conflict, Forbidden, InvalidInput, NotFound

from ..conftest import SECRET


class Clock:
    """A clock the test moves forward, so bump order does not depend on timing."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def clocked(database: Database) -> BoardsService:
    return BoardsService(database, secret=SECRET, clock=Clock())


async def _board(service: BoardsService, **settings: object) -> str:
    spec = BoardSpec(uri="b", title="Random", require_file=False, **settings)  # type: ignore[arg-type]
    return (await service.create_board(spec)).uri


async def _thread(service: BoardsService, text: str = "first", **kw: object) -> int:
    return (
        await service.create_post(NewPost(board="b", thread_no=0, comment=text, password="pw", ip="192.0.2.1", **kw))
    ).post_no  # type: ignore[arg-type]


async def _reply(service: BoardsService, thread: int, text: str = "reply", **kw: object) -> int:
    return (
        await service.create_post(
            NewPost(board="b", thread_no=thread, comment=text, password="pw", ip="192.0.2.2", **kw)
        )
    ).post_no  # type: ignore[arg-type]


async def test_numbers_are_per_board_and_increase(clocked: BoardsService) -> None:
    await _board(clocked)
    await clocked.create_board(BoardSpec(uri="g", title="Tech", require_file=False))
    op = await _thread(clocked)
    reply = await _reply(clocked, op)
    other = await clocked.create_post(NewPost(board="g", thread_no=0, comment="hi"))
    assert (op, reply, other.post_no) == (1, 2, 1)
    view = await clocked.thread("b", op)
    assert [p.no for p in view.posts] == [1, 2]
    assert view.state.reply_count == 1


async def test_duplicate_board_is_refused(clocked: BoardsService) -> None:
    await _board(clocked)
    with pytest.raises(Conflict):
        await _board(clocked)


async def test_new_thread_and_non_sage_reply_bump(clocked: BoardsService) -> None:
    await _board(clocked)
    older = await _thread(clocked, "older")
    newer = await _thread(clocked, "newer")
    page = await clocked.board_page("b", 1)
    assert [t.state.no for t in page.threads] == [newer, older]
    await _reply(clocked, older)
    page = await clocked.board_page("b", 1)
    assert [t.state.no for t in page.threads] == [older, newer]
    await _reply(clocked, newer, options="sage")
    page = await clocked.board_page("b", 1)
    assert [t.state.no for t in page.threads] == [older, newer], "a sage reply must not bump"


async def test_bump_limit_stops_bumping(clocked: BoardsService) -> None:
    await _board(clocked, bump_limit=2)
    capped = await _thread(clocked, "capped")
    await _reply(clocked, capped)
    await _reply(clocked, capped)
    other = await _thread(clocked, "other")
    await _reply(clocked, capped)  # third reply: past the bump limit
    page = await clocked.board_page("b", 1)
    assert [t.state.no for t in page.threads] == [other, capped]


async def test_quotes_render_and_backlink(clocked: BoardsService) -> None:
    await _board(clocked)
    op = await _thread(clocked, "op")
    reply = await _reply(clocked, op, f">>{op}\n>greentext\n>>999")
    view = await clocked.thread("b", op)
    html = view.replies[0].comment_html
    assert f'<a href="#p{op}" class="quotelink">&gt;&gt;{op}</a>' in html
    assert '<span class="quote">&gt;greentext</span>' in html
    assert '<span class="deadlink">&gt;&gt;999</span>' in html
    assert [(b.post_no, b.thread_no) for b in view.op.backlinks] == [(reply, op)]


async def test_cross_thread_quote_links_to_other_thread(clocked: BoardsService) -> None:
    await _board(clocked)
    first = await _thread(clocked)
    second = await _thread(clocked)
    await _reply(clocked, second, f">>{first}")
    view = await clocked.thread("b", second)
    assert f'href="/b/thread/{first}#p{first}"' in view.replies[0].comment_html
    first_view = await clocked.thread("b", first)
    assert first_view.op.backlinks[0].thread_no == second


async def test_validation_errors(clocked: BoardsService) -> None:
    await _board(clocked, require_subject=True, max_comment_length=10)
    with pytest.raises(InvalidInput, match="subject"):
        await _thread(clocked)
    with pytest.raises(InvalidInput, match="too long"):
        await _thread(clocked, "x" * 11, subject="s")
    with pytest.raises(InvalidInput, match="empty"):
        await _thread(clocked, "   ", subject="s")
    with pytest.raises(NotFound):
        await _reply(clocked, 12345)
    with pytest.raises(NotFound):
        await clocked.create_post(NewPost(board="nope", thread_no=0, comment="x"))


async def test_file_required_for_new_threads(clocked: BoardsService) -> None:
    await clocked.create_board(BoardSpec(uri="p", title="Photos", require_file=True))
    with pytest.raises(InvalidInput, match="needs a file"):
        await clocked.create_post(NewPost(board="p", thread_no=0, comment="no file"))


async def test_locked_and_archived_threads_refuse_replies(clocked: BoardsService, database: Database) -> None:
    await _board(clocked, threads_per_page=1, pages=1)
    first = await _thread(clocked)
    await _thread(clocked)  # pushes the first one into the archive
    with pytest.raises(Forbidden, match="archived"):
        await _reply(clocked, first)
    _, archived = await clocked.archive("b")
    assert [e.state.no for e in archived] == [first]
    assert archived[0].state.archived_at is not None


async def test_overflow_is_pruned_when_board_keeps_no_archive(clocked: BoardsService) -> None:
    await _board(clocked, threads_per_page=1, pages=2, archive_enabled=False)
    first = await _thread(clocked)
    await _thread(clocked)
    await _thread(clocked)
    with pytest.raises(NotFound):
        await clocked.thread("b", first)


async def test_stickies_are_never_archived_and_stay_on_top(clocked: BoardsService, database: Database) -> None:
    from sqlalchemy import update

    from imageboard.boards.models import Thread

    await _board(clocked, threads_per_page=2, pages=1)
    sticky = await _thread(clocked)
    async with database.writer() as session:
        await session.execute(update(Thread).where(Thread.no == sticky).values(sticky=True))
    for _ in range(3):
        await _thread(clocked)
    page = await clocked.board_page("b", 1)
    assert page.threads[0].state.no == sticky


async def test_cyclic_thread_keeps_last_replies(clocked: BoardsService, database: Database) -> None:
    from sqlalchemy import update

    from imageboard.boards.models import Thread

    await _board(clocked, cyclic_limit=3)
    op = await _thread(clocked)
    async with database.writer() as session:
        await session.execute(update(Thread).where(Thread.no == op).values(cyclic=True))
    replies = [await _reply(clocked, op, f"r{i}") for i in range(5)]
    view = await clocked.thread("b", op)
    assert [p.no for p in view.replies] == replies[-3:]
    assert view.state.reply_count == 3


async def test_delete_by_password_and_bump_order_restored(clocked: BoardsService) -> None:
    await _board(clocked)
    quiet = await _thread(clocked)
    busy = await _thread(clocked)
    spam = await _reply(clocked, quiet, "spam bump")
    assert [t.state.no for t in (await clocked.board_page("b", 1)).threads] == [quiet, busy]
    with pytest.raises(Forbidden, match="Wrong password"):
        await clocked.delete_own_post("b", spam, "not-it")
    assert await clocked.delete_own_post("b", spam, "pw") is False
    assert [t.state.no for t in (await clocked.board_page("b", 1)).threads] == [busy, quiet]
    view = await clocked.thread("b", quiet)
    assert view.replies == [] and view.state.reply_count == 0
    assert await clocked.delete_own_post("b", busy, "pw") is True
    with pytest.raises(NotFound):
        await clocked.thread("b", busy)


async def test_post_numbers_never_reused_after_delete(clocked: BoardsService) -> None:
    await _board(clocked)
    op = await _thread(clocked)
    last = await _reply(clocked, op)
    await clocked.delete_own_post("b", last, "pw")
    assert await _reply(clocked, op) == last + 1


async def test_names_tripcodes_ids_and_forced_anon(clocked: BoardsService) -> None:
    await _board(clocked, poster_ids=True)
    op = (
        await clocked.create_post(NewPost(board="b", thread_no=0, comment="x", name="kot#faggot", ip="192.0.2.1"))
    ).post_no
    await clocked.create_post(NewPost(board="b", thread_no=op, comment="y", ip="192.0.2.1"))
    await clocked.create_post(NewPost(board="b", thread_no=op, comment="z", ip="192.0.2.9"))
    view = await clocked.thread("b", op)
    assert (view.op.name, view.op.tripcode) == ("kot", "!Ep8pui8Vw2")
    assert view.replies[0].name == "Anonymous"
    assert view.op.poster_id == view.replies[0].poster_id != view.replies[1].poster_id
    assert view.unique_posters == 2
    await clocked.create_board(BoardSpec(uri="anon", title="Anon", forced_anonymous=True, require_file=False))
    created = await clocked.create_post(NewPost(board="anon", thread_no=0, comment="x", name="kot#faggot"))
    forced = await clocked.thread("anon", created.post_no)
    assert (forced.op.name, forced.op.tripcode) == ("Anonymous", None)


async def test_catalog_sorts_and_index_previews(clocked: BoardsService) -> None:
    await _board(clocked)
    a = await _thread(clocked, "alpha")
    b = await _thread(clocked, "beta")
    for i in range(7):
        await _reply(clocked, a, f"reply {i}", options="sage")
    _, by_bump = await clocked.catalog("b", "bump")
    _, by_replies = await clocked.catalog("b", "replies")
    _, by_created = await clocked.catalog("b", "created")
    assert [e.state.no for e in by_bump] == [b, a]
    assert [e.state.no for e in by_replies] == [a, b]
    assert [e.state.no for e in by_created] == [b, a]
    page = await clocked.board_page("b", 1)
    preview = next(t for t in page.threads if t.state.no == a)
    assert len(preview.replies) == 5 and preview.omitted_posts == 2


async def test_pages_and_overboard(clocked: BoardsService) -> None:
    await _board(clocked, threads_per_page=2, pages=3)
    await clocked.create_board(BoardSpec(uri="safe", title="Safe", work_safe=True, require_file=False))
    numbers = [await _thread(clocked, f"t{i}") for i in range(5)]
    safe = await clocked.create_post(NewPost(board="safe", thread_no=0, comment="clean"))
    assert (await clocked.board_page("b", 3)).threads[0].state.no == numbers[0]
    with pytest.raises(NotFound):
        await clocked.board_page("b", 4)
    everything = await clocked.overboard(work_safe_only=False, page=1)
    assert [(t.board.uri, t.state.no) for t in everything.threads][:2] == [("safe", safe.post_no), ("b", numbers[-1])]
    work_safe = await clocked.overboard(work_safe_only=True, page=1)
    assert [(t.board.uri, t.state.no) for t in work_safe.threads] == [("safe", safe.post_no)]


async def test_prune_archives_removes_old_archived_threads(database: Database) -> None:
    clock = Clock()
    service = BoardsService(database, secret=SECRET, clock=clock)
    await _board(service, threads_per_page=1, pages=1, archive_days=1)
    first = await _thread(service)
    await _thread(service)
    assert await service.prune_archives() == 0
    clock.now += timedelta(days=2)
    assert await service.prune_archives() == 1
    with pytest.raises(NotFound):
        await service.thread("b", first)


async def test_concurrent_replies_get_unique_numbers(database: Database) -> None:
    service = BoardsService(database, secret=SECRET)
    await _board(service)
    op = await _thread(service)
    count = 60

    async def reply(i: int) -> int:
        return await _reply(service, op, f"concurrent {i}")

    numbers = await asyncio.gather(*(reply(i) for i in range(count)))
    assert sorted(numbers) == list(range(op + 1, op + 1 + count))
    view = await service.thread("b", op)
    assert [p.no for p in view.replies] == sorted(numbers)
    assert view.state.reply_count == count
    board = await service.get_board("b")
    assert board.last_post_no == op + count


async def test_thread_outline_and_its_posts_agree_with_the_full_thread(
    clocked: BoardsService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The thread page's stamps and the posts loaded for them (in batches, however many) are
    the thread's visible posts, as ``thread`` gives them, in order."""
    from imageboard.boards.repository import posts

    await _board(clocked)
    op = await _thread(clocked)
    for n, ip in enumerate(["10.0.0.1", "10.0.0.2", "10.0.0.1", None, None]):
        await clocked.create_post(NewPost(board="b", thread_no=op, comment=f">>{op} reply {n}", password="pw", ip=ip))
    await clocked.create_post(
        NewPost(board="b", thread_no=op, comment="held", password="pw", hold_for_review=True, ip="10.0.0.9")
    )
    full = await clocked.thread("b", op)
    outline = await clocked.thread_outline("b", op)
    assert outline.state == full.state
    assert (outline.op.subject, outline.op.comment, outline.op.stamp.no) == (full.op.subject, full.op.comment, op)
    assert [s.no for s in outline.replies] == [p.no for p in full.replies]
    assert outline.unique_posters == full.unique_posters == 4  # the OP's, two more, and the posts without one
    monkeypatch.setattr(posts, "ID_BATCH", 2)
    ids = [s.id for s in reversed(outline.replies)]  # asked in any order, given in the thread's
    loaded = await clocked.thread_posts("b", op, [*ids, 999_999])  # an id not in the thread: left out
    assert [view for _, _, view in loaded] == full.replies
    assert [version for _, version, _ in loaded] == [s.view_version for s in outline.replies]
    with pytest.raises(NotFound):
        await clocked.thread_outline("b", op + 100)


async def test_board_page_previews_show_each_threads_last_replies_in_order(clocked: BoardsService) -> None:
    """Each thread's preview: its last visible replies, oldest first, whatever the others hold."""
    from imageboard.boards.services.reading import INDEX_REPLIES

    await _board(clocked)
    long, short = await _thread(clocked, "long"), await _thread(clocked, "short")
    empty = await _thread(clocked, "empty")
    for n in range(INDEX_REPLIES + 3):
        await _reply(clocked, long, f"long {n}")
        if n == INDEX_REPLIES:  # a held reply near the end is not shown, nor counted
            await clocked.create_post(NewPost(board="b", thread_no=long, comment="held", hold_for_review=True))
    await _reply(clocked, short, "short 0")
    await _reply(clocked, short, "short 1")
    page = await clocked.board_page("b", 1)
    previews = {t.state.no: t for t in page.threads}
    for no in (long, short, empty):
        full = await clocked.thread("b", no)
        assert previews[no].replies == full.replies[-INDEX_REPLIES:], no
    assert [r.comment for r in previews[long].replies] == [f"long {n}" for n in range(3, INDEX_REPLIES + 3)]
    assert previews[long].omitted_posts == 3 and previews[empty].replies == []


async def test_the_home_page_keeps_its_count_of_a_days_posts_a_while(database: Database) -> None:
    clock = Clock()
    service = BoardsService(database, secret=SECRET, clock=clock)
    await _board(service)
    op = await _thread(service)
    [first] = await service.home()
    assert (first.board.uri, first.posts_last_day) == ("b", 1) and first.last_post_at is not None
    await service.create_post(NewPost(board="b", thread_no=op, comment="later", password="pw", ip="192.0.2.2"))
    [kept] = await service.home()
    assert kept.posts_last_day == 1  # the count is kept for DAY_COUNT_SECONDS...
    assert kept.last_post_at is not None and kept.last_post_at > first.last_post_at  # ...the last time is not
    service.day_counts = Memo(0.0)  # the kept count has run out
    [fresh] = await service.home()
    assert fresh.posts_last_day == 2
    clock.now += timedelta(days=1)  # both posts are now more than a day old
    [later] = await service.home()
    assert later.posts_last_day == 0 and later.last_post_at == fresh.last_post_at

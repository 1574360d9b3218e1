"""Realistic demo content, two ways: a few threads per board through the normal posting
path (``fill_boards``: the same rules, markup and counters as real posts, one post at a
time), or many posts at once (``fill_bulk``: threads and replies interleaved in time as on
a busy board, written in batches by :mod:`imageboard.boards.loader`)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from rich.progress import Progress

from imageboard.boards import bulk
from imageboard.boards.bulk import BoardRow
from imageboard.boards.loader import BATCH, BoardLoader, LoadedThread, bulk_load
from imageboard.boards.schemas import NewPost
from imageboard.boards.service import BoardsService
from imageboard.core.clock import utcnow
from imageboard.core.db import Database
from imageboard.core.errors import InvalidInput

DEMO_PASSWORD = "demo"  # noqa: S105  (deletion password of demo posts, not a credential)

SUBJECTS = (
    "Post your desk setup",
    "What are you reading?",
    "Daily programming thread",
    "Rate my breakfast",
    "Which distro and why",
    "Comfy music thread",
    "Unpopular opinions",
    "Ask a night-shift nurse",
    "The cooking general",
    "Old games that still hold up",
    "Weekend project thread",
    "Coffee or tea",
    "Share a small win",
    "Favourite keyboard switches",
    "How do you stay focused?",
    "Rain sounds thread",
)
OPENERS = (
    "What's everyone working on this week?",
    "I finally finished it after three months.",
    "Be honest with me here.",
    "Thread for people who like this kind of thing.",
    "Starting a new one since the old one hit the bump limit.",
    "Genuinely curious what you think.",
)
SENTENCES = (
    "This is the correct answer and I will not elaborate.",
    "Tried that once, never again.",
    "Source on that?",
    "Based.",
    "I disagree but I see where you're coming from.",
    "The documentation actually covers this, check the second chapter.",
    "Mine looks almost exactly like that.",
    "Same here, it took me a while to get used to it.",
    "Post more of these please.",
    "Works on my machine.",
    "Honestly underrated.",
    "That's a lot of words for a Tuesday.",
    "Can confirm, had the same problem last year.",
    "Why would you do that to yourself?",
    "This thread is comfy.",
    "Kept me up all night, worth it.",
    "Bump.",
    "日本語のスレッドもいいね。",
    "Ça marche très bien chez moi.",
    "¿Alguien más lo probó?",
    "Ich stimme zu.",
)
GREENTEXT = (
    ">be me",
    ">wake up at 6",
    ">coffee machine broken",
    ">mfw",
    ">implying",
    ">tfw no sleep",
    ">he doesn't know about the keyboard shortcut",
    ">open the terminal",
    ">it just works",
)
NAMES = ("", "", "", "", "", "Anonymous", "kot#cat", "tester##longpassword", "ghost")


def _comment(rng: random.Random, earlier: list[int]) -> str:
    """A reply's text, quoting one of the thread's last posts now and then."""
    body = _body(rng)
    return f">>{rng.choice(earlier[-30:])}\n{body}" if earlier and rng.random() < 0.45 else body


def _body(rng: random.Random) -> str:
    lines: list[str] = []
    if rng.random() < 0.3:
        lines.extend(rng.sample(GREENTEXT, k=rng.randint(1, 3)))
    lines.append(" ".join(rng.sample(SENTENCES, k=rng.randint(1, 3))))
    if rng.random() < 0.08:
        lines.append("[spoiler]it was the butler[/spoiler]")
    if rng.random() < 0.05:
        lines.append("[code]for i in range(3):\n    print(i)[/code]")
    if rng.random() < 0.05:
        lines.append("Relevant: https://example.org/docs?page=2&lang=en")
    return "\n".join(lines)


async def fill_boards(boards: BoardsService, *, threads_per_board: int, max_replies: int, seed: int) -> int:
    rng = random.Random(seed)
    written = 0
    # Demo posts are text; boards that insist on a file for new threads are left alone.
    all_boards = [b for b in await boards.list_boards() if b.text_only or not b.require_file]
    plan = {b.uri: [rng.randint(0, max_replies) for _ in range(threads_per_board)] for b in all_boards}
    total = sum(threads_per_board + sum(counts) for counts in plan.values())
    with Progress() as progress:
        task = progress.add_task("writing demo posts", total=total)
        for board in all_boards:
            for reply_count in plan[board.uri]:
                ip = f"203.0.113.{rng.randint(1, 254)}"
                opened = await boards.create_post(
                    NewPost(
                        board=board.uri,
                        thread_no=0,
                        name=rng.choice(NAMES),
                        subject=rng.choice(SUBJECTS),
                        comment=rng.choice(OPENERS) + "\n" + _comment(rng, []),
                        password=DEMO_PASSWORD,
                        ip=ip,
                    )
                )
                numbers = [opened.post_no]
                for _ in range(reply_count):
                    created = await boards.create_post(
                        NewPost(
                            board=board.uri,
                            thread_no=opened.thread_no,
                            name=rng.choice(NAMES),
                            options="sage" if rng.random() < 0.05 else "",
                            comment=_comment(rng, numbers),
                            password=DEMO_PASSWORD,
                            ip=f"198.51.100.{rng.randint(1, 254)}",
                        )
                    )
                    numbers.append(created.post_no)
                written += 1 + reply_count
                progress.update(task, advance=1 + reply_count)
    return written


# --- many posts at once ------------------------------------------------------------------------

DROP_INDEXES_FROM = 100_000  # posts; below this, keeping the indexes up to date is cheaper
# Distinct comment bodies of a bulk load (quotes come on top): drawing a fresh one for each
# of a million posts, and rendering it, would cost more than writing the post.
BODIES = 5_000
ACTIVE_THREADS = 60  # threads still getting replies; older ones are left to sink
QUOTED_WINDOW = 30  # replies quote one of the thread's last posts


@dataclass(frozen=True, slots=True)
class BulkResult:
    posts: int
    threads: int
    archived: int
    boards: list[str]
    first_post_id: int  # the new posts have ids from here on (for the search index)


@dataclass(slots=True, eq=False)  # found in the list by identity
class _Active:
    thread: LoadedThread
    remaining: int
    numbers: list[int] = field(default_factory=list)


def thread_size(rng: random.Random, bump_limit: int) -> int:
    """Replies a thread will get: most threads a handful (median ≈ 10), some dozens, a few
    run past the bump limit."""
    return min(int(rng.lognormvariate(2.3, 1.2)), bump_limit + 50)


def split(total: int, parts: int) -> list[int]:
    """``total`` over ``parts`` boards, the first boards busiest (weights 1, 1/2, 1/3, …)."""
    weights = [1 / (i + 1) for i in range(parts)]
    counts = [int(total * w / sum(weights)) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % parts] += 1
    return counts


async def _simulate(loader: BoardLoader, count: int, rng: random.Random, start: datetime, end: datetime) -> None:
    """``count`` posts on one board in time order: new threads now and then, replies mostly
    to the threads bumped last."""
    board = loader.board
    bodies = [_body(rng) for _ in range(min(count, BODIES))]
    if loader.not_before is not None:
        start = max(start, loader.not_before + timedelta(microseconds=1))
    step = (end - start) / count
    mean_size = 20
    active: list[_Active] = []
    for i in range(count):
        at = start + step * (i + rng.random() * 0.9)
        can_open = board.keeps_archive or len(loader.threads) < board.capacity
        if not active or (can_open and rng.random() < 1 / (mean_size + 1)):
            thread = loader.open_thread(
                at=at,
                subject=rng.choice(SUBJECTS),
                comment=rng.choice(OPENERS) + "\n" + bodies[int(rng.random() * len(bodies))],
                name=rng.choice(NAMES),
                ip=f"203.0.113.{rng.randint(1, 254)}",
            )
            active.append(_Active(thread, thread_size(rng, board.bump_limit), [thread.no]))
        else:
            entry = active[-1 - min(int(rng.expovariate(1 / 6)), len(active) - 1)]
            body = bodies[int(rng.random() * len(bodies))]
            quoted = [entry.numbers[-1 - int(rng.random() * len(entry.numbers))]] if rng.random() < 0.45 else []
            text = f">>{quoted[0]}\n{body}" if quoted else body
            sage = rng.random() < 0.05
            no = loader.reply(
                entry.thread, at=at, comment=text, quoted=quoted, name=rng.choice(NAMES),
                ip=f"198.51.100.{int(rng.random() * 40) + 1}", sage=sage,
            )  # fmt: skip
            entry.numbers.append(no)
            del entry.numbers[:-QUOTED_WINDOW]
            entry.remaining -= 1
            if entry.remaining <= 0 or not sage:
                active.remove(entry)
            if entry.remaining > 0 and not sage:
                active.append(entry)  # a bump moves the thread to the top, where most replies go
        if len(active) > ACTIVE_THREADS:
            active.pop(0)
        if loader.buffered >= BATCH:
            await loader.flush()


async def fill_bulk(
    db: Database, *, posts: int, seed: int, secret: bytes, on_written: Callable[[int], None] = lambda _n: None
) -> BulkResult:
    """Write ``posts`` posts over the boards that take text threads, in one transaction."""
    if posts < 1:
        raise InvalidInput("Give at least one post to write.", field="posts")
    rng = random.Random(seed)
    now = utcnow()
    drop_indexes = posts >= DROP_INDEXES_FROM
    async with bulk_load(db, secret=secret, now=now, drop_indexes=drop_indexes, on_written=on_written) as load:
        boards: list[BoardRow] = [b for b in await bulk.board_rows(load.session) if b.text_threads]
        if not boards:
            raise InvalidInput(
                "There is no board for text posts: run `imageboard init`, or create a board with --no-require-file.",
                field="posts",
            )
        first_post_id = load.ids.post
        # Posts from the last few days (a busy board: about one a minute per board or more),
        # after any the board has already.
        end = now
        span = min(timedelta(days=3), timedelta(seconds=45) * posts)
        for board, count in zip(boards, split(posts, len(boards)), strict=True):
            if count:
                await _simulate(await load.board(board, count, password=DEMO_PASSWORD), count, rng, end - span, end)
    threads = sum(len(loader.threads) for loader in load.loaders)
    archived = sum(loader.archived for loader in load.loaders)
    return BulkResult(posts, threads, archived, [b.uri for b in boards], first_post_id)

"""Realistic demo content, written through the normal posting path so it exercises the same
rules, markup and counters as real posts."""

from __future__ import annotations

import random

from rich.progress import Progress

from imageboard.boards.schemas import NewPost
from imageboard.boards.service import BoardsService

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
    lines: list[str] = []
    if earlier and rng.random() < 0.45:
        lines.append(f">>{rng.choice(earlier[-30:])}")
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

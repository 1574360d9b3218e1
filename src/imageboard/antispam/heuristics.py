"""Checks on a post's text that catch spam robots: too many links, and the "this post looks
automated" class — a filled honeypot field, one line repeated many times, accent marks
stacked on letters, invisible characters, overlong words. Each refusal says what the poster
can change to get the post through. Pure functions: no state, no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from imageboard.antispam.errors import LooksAutomated
from imageboard.antispam.schemas import SpamPolicy

# The form field robots fill and people never see (hidden with CSS, aria-hidden, no tab stop).
HONEYPOT_FIELD = "url"

LINK = re.compile(r"(?i)\b(?:https?|ftp)://[^\s<>\"']+|\bwww\.[a-z0-9-]+\.[a-z]{2,}[^\s<>\"']*|\bmagnet:\?\S+")
# Zero-width and invisible formatting characters used to slip words past filters. The joiners
# U+200C/U+200D are left out: Persian, Indic scripts and emoji sequences need them.
INVISIBLE = frozenset(
    [0x00AD, 0x034F, 0x115F, 0x1160, 0x180E, 0x200B, 0x200E, 0x200F, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064,
     0x206A, 0x206B, 0x206C, 0x206D, 0x206E, 0x206F, 0x3164, 0xFEFF, 0xFFA0]
)
MAX_INVISIBLE = 3
# Vietnamese stacks two marks, some scripts three or four; "zalgo" text stacks dozens.
MAX_STACKED_MARKS = 6


def count_links(comment: str) -> int:
    return len(LINK.findall(comment))


def check_links(links: int, policy: SpamPolicy) -> None:
    if policy.max_links < 0 or links <= policy.max_links:
        return
    if policy.max_links == 0:
        raise LooksAutomated(
            "This board does not allow links in posts. Remove the links (or write the address without "
            "\"http://\" and \"www.\") and post again.",
            field="com",
            code="too_many_links",
        )
    raise LooksAutomated(
        f"Your post has {links} links, and this board allows at most {policy.max_links}. "
        "Remove some of them and post again.",
        field="com",
        code="too_many_links",
    )


def check_automated(comment: str, policy: SpamPolicy, *, honeypot: str = "") -> None:
    """Raise LooksAutomated, with what to change, when the post looks like a robot's."""
    if not policy.automated_checks:
        return
    if honeypot.strip():
        raise LooksAutomated(
            "A form field that people never see was filled in, which form-filling programs do. "
            "Turn off autofill or form-filling extensions for this site and post again.",
            code="honeypot",
        )
    _check_repeated_lines(comment, policy.max_repeated_lines)
    _check_stacked_marks(comment)
    _check_invisible(comment)
    _check_long_words(comment, policy.max_word_length)


def _check_repeated_lines(comment: str, most: int) -> None:
    if most <= 0:
        return
    counts = Counter(line.strip() for line in comment.splitlines() if len(line.strip()) > 1)
    if not counts:
        return
    line, times = counts.most_common(1)[0]
    if times > most:
        shown = line if len(line) <= 40 else line[:37] + "..."
        raise LooksAutomated(
            f"Your comment repeats the line \"{shown}\" {times} times, which looks automated. "
            f"Keep it to {most} repeats at most and post again.",
            field="com",
            code="repeated_lines",
        )


def _check_stacked_marks(comment: str) -> None:
    run = longest = 0
    for char in comment:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me"):
            run += 1
            longest = max(longest, run)
        else:
            run = 0
    if longest > MAX_STACKED_MARKS:
        raise LooksAutomated(
            f"Your comment stacks {longest} accent marks on one letter (\"zalgo\" text), which looks automated. "
            "Remove the stacked marks and post again.",
            field="com",
            code="stacked_marks",
        )


def _check_invisible(comment: str) -> None:
    hidden = sum(1 for char in comment if ord(char) in INVISIBLE or 0xE0000 <= ord(char) <= 0xE007F)
    if hidden > MAX_INVISIBLE:
        raise LooksAutomated(
            f"Your comment contains {hidden} invisible characters (such as zero-width spaces), which robots use "
            "to dodge filters. Remove them — retyping the text instead of pasting it does that — and post again.",
            field="com",
            code="invisible_characters",
        )


@lru_cache(maxsize=16)
def _long_run(length: int) -> re.Pattern[str]:
    return re.compile(rf"[!-~]{{{length + 1},}}")


def _check_long_words(comment: str, most: int) -> None:
    """Runs of printable ASCII without a space, links aside. Scripts written without spaces
    (Chinese, Japanese, Thai...) are not ASCII and are never counted."""
    if most <= 0 or len(comment) <= most:
        return
    for match in _long_run(most).finditer(comment):
        word = match.group()
        if LINK.fullmatch(word) or LINK.match(word):
            continue
        raise LooksAutomated(
            f"Your comment has a {len(word)}-character word with no spaces, which looks automated. "
            f"Break it up with spaces (words may be up to {most} characters) and post again.",
            field="com",
            code="long_word",
        )

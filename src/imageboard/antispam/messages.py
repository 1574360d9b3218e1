"""The wording of rate-limit refusals: what was reached, and how long to wait."""

from __future__ import annotations

from imageboard.antispam.errors import RateLimited, wait_phrase
from imageboard.antispam.limiter import Rule
from imageboard.antispam.schemas import SpamPolicy


def refusal(rule: Rule, retry_after: float, policy: SpamPolicy) -> RateLimited:
    """The error for a post refused by ``rule`` (its key's first part names the limit)."""
    wait = retry_after
    kind = rule.key.split(":", 1)[0]
    if kind == "t":
        message = (
            f"You can start {count(policy.threads_per_window, 'new thread')} per "
            f"{wait_phrase(policy.thread_window)} on this board. Wait {wait_phrase(wait)}, or reply to a thread."
        )
    elif kind == "r":
        message = (
            f"You are posting too fast: this board takes {count(policy.replies_per_window, 'reply', 'replies')} "
            f"per {wait_phrase(policy.reply_window)} from one poster. Wait {wait_phrase(wait)} and post again."
        )
    elif kind == "f":
        message = (
            f"You have uploaded this board's limit of {policy.files_per_hour} files per hour. "
            f"Wait {wait_phrase(wait)} to attach more, or post without files."
        )
    elif kind == "d":
        message = (
            "You already posted this same comment a moment ago. Write something new, "
            f"or wait {wait_phrase(wait)} to post it again."
        )
    else:
        message = (
            "The site is taking a lot of posts right now and is slowing everyone down for a moment. "
            f"Wait {wait_phrase(wait)} and post again."
        )
    code = {"t": "thread_limit", "r": "reply_limit", "f": "file_limit", "d": "duplicate_comment"}.get(
        kind, "site_busy"
    )
    return RateLimited(message, retry_after=wait, code=code)


def count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"

"""Reading numbers out of text that came from outside."""

from __future__ import annotations


def is_decimal(text: str) -> bool:
    """Only the ASCII digits 0–9, at least one. ``str.isdigit`` also takes '²', '①' and the
    like, which ``int()`` then refuses with a ValueError: a 500 where a 400 was meant."""
    return text.isascii() and text.isdigit()

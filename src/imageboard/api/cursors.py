"""Opaque cursors for the v1 lists.

A cursor is base64url JSON of ``{"l": list name, "k": key}``: the sort key of the last item
handed out (keyset pagination, so items added meanwhile do not shift the next page), or a
page position where the underlying read is positional. Clients must treat it as opaque; a
cursor made for one list is refused by another.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from imageboard.core.errors import InvalidInput

T = TypeVar("T")
Key = list[Any]
MAX_CURSOR_LENGTH = 512
MAX_LIMIT = 100


def encode(list_name: str, key: Key) -> str:
    raw = json.dumps({"l": list_name, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(list_name: str, cursor: str) -> Key:
    problem = InvalidInput(
        "This cursor is not valid here: pass the next_cursor of the previous page of this same list.",
        field="cursor",
        code="invalid_cursor",
    )
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise problem
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise problem from None
    if not isinstance(data, dict) or data.get("l") != list_name or not isinstance(data.get("k"), list):
        raise problem
    key: Key = data["k"]
    return key


def clamp_limit(limit: int) -> int:
    """Lists hand out at most MAX_LIMIT items at a time; asking for more gets that many."""
    return min(limit, MAX_LIMIT)


def keyset_page(
    items: Sequence[T],
    key: Callable[[T], tuple[Any, ...]],
    *,
    list_name: str,
    cursor: str | None,
    limit: int,
) -> tuple[list[T], str | None]:
    """The ``limit`` items after the cursor in ``key`` order, and the cursor for the next."""
    ordered = sorted(items, key=key)
    if cursor is not None:
        after = decode(list_name, cursor)
        ordered = [item for item in ordered if _after(list(key(item)), after)]
    page = ordered[: clamp_limit(limit)]
    more = len(ordered) > len(page)
    return page, (encode(list_name, list(key(page[-1]))) if more and page else None)


def _after(key: Key, cursor_key: Key) -> bool:
    if len(key) != len(cursor_key) or any(type(a) is not type(b) for a, b in zip(key, cursor_key, strict=True)):
        raise InvalidInput(
            "This cursor is not valid here: pass the next_cursor of the previous page of this same list.",
            field="cursor",
            code="invalid_cursor",
        )
    return key > cursor_key

"""The posting transaction claims the board's next number only once the post is ready.

From the claim until commit the board's row is locked (on PostgreSQL, every poster on the
board queues for it), so the screen's reads, the markup's look-ups and the board itself are
read before it, and after it come only the post's own writes. On PostgreSQL a reply's claim,
its thread's count and its row are one statement: one round trip under the lock, not three."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from imageboard.core.db import Database
from imageboard.core.errors import InvalidInput, NotFound
from tests.statements import write_statements

from .conftest import Mod


def _claim_index(statements: list[str]) -> int:
    claims = [i for i, s in enumerate(statements) if "UPDATE BOARDS SET LAST_POST_NO" in s]
    assert len(claims) == 1, statements
    return claims[0]


async def test_a_reply_reads_everything_before_it_claims_its_number(mod: Mod, database: Database) -> None:
    op = await mod.post("first")
    await mod.post(">>1 quoted", thread=op)
    # reads: on SQLite the reads before the first write run outside the write transaction.
    with write_statements(database, reads=True) as sent:
        await mod.post(f">>{op} and >>>/tech/ a link", thread=op)
    statements = [" ".join(s.split()).upper() for s in sent]
    claim = _claim_index(statements)
    before, after = statements[:claim], statements[claim + 1 :]
    assert any("FROM BANS" in s for s in before)  # the screen
    assert any(s.startswith("SELECT") and "FROM BOARDS" in s for s in before)  # the board, the linked board
    assert any("JOIN POSTS" in s or "FROM POSTS" in s for s in before)  # the quoted post's thread
    assert not [s for s in after if s.startswith("SELECT")], after
    writes = [s.split(" (")[0].split(" SET")[0] for s in after if not s.startswith(("COMMIT", "RELEASE"))]
    if database.dialect == "postgresql":
        assert statements[claim].startswith("WITH CLAIM AS (UPDATE BOARDS SET LAST_POST_NO")
        assert "UPDATE THREADS SET" in statements[claim]
        assert "INSERT INTO POSTS" in statements[claim]
        assert writes == ["INSERT INTO POST_QUOTES", "INSERT INTO OUTBOX"]
    else:
        assert writes == ["UPDATE THREADS", "INSERT INTO POSTS", "INSERT INTO POST_QUOTES", "INSERT INTO OUTBOX"]


async def test_a_refused_post_never_claims_a_number(mod: Mod, database: Database) -> None:
    op = await mod.post("first")
    claiming = write_statements(database, lambda s: "UPDATE BOARDS" in s.upper())
    with claiming as claims, pytest.raises(InvalidInput, match="empty"):
        await mod.post("", thread=op)  # refused by validation
    assert claims == []
    assert await mod.post("next", thread=op) == op + 1


async def _row(database: Database, query: str, **params: object) -> dict[str, object]:
    async with database.reader(primary=True) as session:
        return dict((await session.execute(text(query), params)).one()._mapping)


async def test_a_reply_changes_only_its_number_count_and_bump(mod: Mod, database: Database) -> None:
    """On PostgreSQL the reply's three writes share one statement's parameters: none may
    leak into another row's columns (a parameter named like a column is written to it)."""
    op = await mod.post("first")
    board_before = await _row(database, "SELECT * FROM boards WHERE uri = 'b'")
    thread_before = await _row(database, "SELECT * FROM threads WHERE no = :no", no=op)
    reply = await mod.post("a reply", thread=op)
    board_after = await _row(database, "SELECT * FROM boards WHERE uri = 'b'")
    thread_after = await _row(database, "SELECT * FROM threads WHERE no = :no", no=op)
    post = await _row(database, "SELECT * FROM posts WHERE no = :no", no=reply)

    changed = {key for key in board_before if board_before[key] != board_after[key]}
    assert changed == {"last_post_no", "updated_at"}
    assert board_after["last_post_no"] == reply == op + 1
    changed = {key for key in thread_before if thread_before[key] != thread_after[key]}
    assert changed == {"reply_count", "bumped_at", "updated_at"}
    assert thread_after["reply_count"] == 1
    assert (post["thread_id"], post["board_id"], post["is_op"]) == (thread_after["id"], board_after["id"], False)
    assert (post["comment"], post["subject"], post["held"]) == ("a reply", "", False)


async def test_a_reply_to_a_thread_that_cannot_take_it_leaves_no_trace(mod: Mod, database: Database) -> None:
    op = await mod.post("first")
    board_before = await _row(database, "SELECT * FROM boards WHERE uri = 'b'")
    with pytest.raises(NotFound, match="does not exist"):
        await mod.post("to nowhere", thread=op + 50)
    assert await _row(database, "SELECT * FROM boards WHERE uri = 'b'") == board_before
    assert await mod.post("next", thread=op) == op + 1

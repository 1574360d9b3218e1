"""The posting transaction claims the board's next number only once the post is ready.

From the claim until commit the board's row is locked (on PostgreSQL, every poster on the
board queues for it), so the screen's reads, the markup's look-ups and the board itself are
read before it, and after it come only the post's own writes."""

from __future__ import annotations

import pytest

from imageboard.core.db import Database
from imageboard.core.errors import InvalidInput
from tests.statements import write_statements

from .conftest import Mod


def _claim_index(statements: list[str]) -> int:
    claims = [i for i, s in enumerate(statements) if s.startswith("UPDATE BOARDS SET LAST_POST_NO")]
    assert len(claims) == 1, statements
    return claims[0]


async def test_a_reply_reads_everything_before_it_claims_its_number(mod: Mod, database: Database) -> None:
    op = await mod.post("first")
    await mod.post(">>1 quoted", thread=op)
    with write_statements(database) as sent:
        await mod.post(f">>{op} and >>>/tech/ a link", thread=op)
    statements = [" ".join(s.split()).upper() for s in sent]
    claim = _claim_index(statements)
    before, after = statements[:claim], statements[claim + 1 :]
    assert any("FROM BANS" in s for s in before)  # the screen
    assert any(s.startswith("SELECT") and "FROM BOARDS" in s for s in before)  # the board, the linked board
    assert any("JOIN POSTS" in s or "FROM POSTS" in s for s in before)  # the quoted post's thread
    assert not [s for s in after if s.startswith("SELECT")], after
    assert [s.split(" (")[0].split(" SET")[0] for s in after if not s.startswith(("COMMIT", "RELEASE"))] == [
        "UPDATE THREADS",
        "INSERT INTO POSTS",
        "INSERT INTO POST_QUOTES",
        "INSERT INTO OUTBOX",
    ]


async def test_a_refused_post_never_claims_a_number(mod: Mod, database: Database) -> None:
    op = await mod.post("first")
    claiming = write_statements(database, lambda s: s.lstrip().upper().startswith("UPDATE BOARDS"))
    with claiming as claims, pytest.raises(InvalidInput, match="empty"):
        await mod.post("", thread=op)  # refused by validation
    assert claims == []
    assert await mod.post("next", thread=op) == op + 1

"""The posting screen's cache of word filters: kept per board by the filters' version, read
again exactly when another process (another set of services on the same database) changed
them, and never read while nothing changed."""

from __future__ import annotations

from contextlib import AbstractContextManager

import pytest

from imageboard.accounts import AccountsService
from imageboard.boards import BoardsService
from imageboard.core.db import Database
from imageboard.core.errors import InvalidInput
from imageboard.moderation import Banned, ModerationService, Warned
from tests.statements import write_statements

from .conftest import ADMIN, SECRET, Mod


def other_process(mod: Mod, database: Database) -> Mod:
    """A second set of services on the same database, as a second server process has."""
    boards = BoardsService(database, secret=SECRET, clock=mod.clock)
    moderation = ModerationService(database, boards, AccountsService(database, clock=mod.clock), clock=mod.clock)
    boards.screen = moderation.screen
    return Mod(mod.clock, boards, mod.accounts, moderation)


def filter_reads(database: Database) -> AbstractContextManager[list[str]]:
    return write_statements(database, lambda s: s.lstrip().upper().startswith("SELECT") and "FROM word_filters" in s)


async def test_filters_are_read_once_while_they_do_not_change(mod: Mod, database: Database) -> None:
    await mod.moderation.admin.add_filter(ADMIN, "b", "darn", is_regex=False, action="replace", replacement="gosh")
    op = await mod.post("first")
    with filter_reads(database) as reads:
        for n in range(5):
            await mod.post(f"darn {n}", thread=op)
    assert reads == []  # every post used the cached filters
    assert (await mod.boards.thread("b", op)).replies[-1].comment == "gosh 4"


async def test_a_filter_added_elsewhere_applies_to_the_very_next_post(mod: Mod, database: Database) -> None:
    other = other_process(mod, database)
    op = await mod.post("first")
    await other.post("warm the other process's cache", thread=op)
    await mod.moderation.admin.add_filter(ADMIN, None, "forbidden", is_regex=False, action="refuse")
    with filter_reads(database) as reads, pytest.raises(InvalidInput, match="refused"):
        await other.post("this is forbidden", thread=op)
    assert len(reads) == 1  # read again because the version changed, once
    with filter_reads(database) as reads, pytest.raises(InvalidInput, match="refused"):
        await other.post("still forbidden", thread=op)
    assert reads == []


async def test_a_filter_deleted_elsewhere_stops_applying_at_once(mod: Mod, database: Database) -> None:
    other = other_process(mod, database)
    made = await mod.moderation.admin.add_filter(ADMIN, "b", "darn", is_regex=False, action="replace", replacement="x")
    op = await mod.post("first")
    await other.post("darn", thread=op)
    assert (await mod.boards.thread("b", op)).replies[-1].comment == "x"
    await mod.moderation.admin.delete_filter(ADMIN, made.id)
    await other.post("darn", thread=op)
    assert (await mod.boards.thread("b", op)).replies[-1].comment == "darn"


async def test_each_board_keeps_its_own_filters(mod: Mod) -> None:
    await mod.moderation.admin.add_filter(ADMIN, "b", "darn", is_regex=False, action="refuse")
    b_op = await mod.post("first on b")
    tech_op = await mod.post("first on tech", board="tech")
    assert await mod.post("darn is fine on tech", thread=tech_op, board="tech")
    with pytest.raises(InvalidInput):
        await mod.post("darn", thread=b_op)
    await mod.moderation.admin.add_filter(ADMIN, "tech", "heck", is_regex=False, action="refuse")
    with pytest.raises(InvalidInput):
        await mod.post("heck", thread=tech_op, board="tech")
    assert await mod.post("heck is fine on b", thread=b_op)


async def test_a_refusal_that_records_something_keeps_the_record_but_not_the_number(mod: Mod) -> None:
    poster = "192.0.2.44"
    op = await mod.post("rude", ip=poster)
    await mod.moderation.bans.warn_post(ADMIN, "b", op, "Be nice.")
    with pytest.raises(Warned, match="Be nice"):
        await mod.post("next", ip=poster)
    assert (await mod.moderation.bans.ban_page(poster)).warnings == []  # seen: committed
    await mod.moderation.admin.add_filter(ADMIN, "b", "buy now", is_regex=False, action="ban", ban_hours=1)
    with pytest.raises(Banned):
        await mod.post("buy now", thread=op, ip="192.0.2.45")
    assert len((await mod.moderation.bans.ban_page("192.0.2.45")).bans) == 1  # the ban is kept
    assert await mod.post("after reading it", thread=op, ip=poster) == op + 1  # no number was used up

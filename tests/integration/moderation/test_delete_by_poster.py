"""Deleting every post of one poster, and the bump order their posts disturbed coming back."""

from __future__ import annotations

import pytest

from imageboard.moderation import MissingPermission

from .conftest import GLOBAL_MOD, JANITOR, MOD, Mod

SPAMMER = "192.0.2.66"


async def order(mod: Mod, board: str = "b") -> list[int]:
    return [t.state.no for t in (await mod.boards.board_page(board, 1)).threads]


async def test_deleting_a_spammers_posts_restores_bump_order(mod: Mod) -> None:
    a = await mod.post("thread A", ip="198.51.100.1")
    b = await mod.post("thread B", ip="198.51.100.2")
    c = await mod.post("thread C", ip="198.51.100.3")
    await mod.post("reply bumping A", thread=a, ip="198.51.100.4")
    await mod.post("a sage reply to B", thread=b, ip="198.51.100.5", options="sage")
    before = await order(mod)
    assert before == [a, c, b]
    bumps = {no: (await mod.boards.thread("b", no)).state.bumped_at for no in before}

    # The spammer bumps every thread, opens one of their own, and posts on /tech/ too.
    spam_thread = await mod.post("SPAM THREAD", ip=SPAMMER)
    for no in (b, c, a, b):
        await mod.post("SPAM", thread=no, ip=SPAMMER)
    tech = await mod.post("tech spam", ip=SPAMMER, board="tech")
    assert (await order(mod))[0] == b and spam_thread in await order(mod)

    with pytest.raises(MissingPermission):
        await mod.moderation.actions.delete_by_poster(JANITOR, "b", spam_thread, "board")
    removed = await mod.moderation.actions.delete_by_poster(MOD, "b", spam_thread, "board")
    assert removed == 5
    assert await order(mod) == before
    for no in before:
        state = (await mod.boards.thread("b", no)).state
        assert state.bumped_at == bumps[no], no
    assert (await mod.boards.thread("b", a)).state.reply_count == 1
    assert (await mod.boards.thread("b", b)).state.reply_count == 1
    # Board scope left /tech/ alone; site scope needs a site role.
    assert await order(mod, "tech") == [tech]
    with pytest.raises(MissingPermission, match="site-wide"):
        await mod.moderation.actions.delete_by_poster(MOD, "tech", tech, "site")
    assert await mod.moderation.actions.delete_by_poster(GLOBAL_MOD, "tech", tech, "site") == 1
    assert await order(mod, "tech") == []


async def test_thread_scope_only_touches_the_thread(mod: Mod) -> None:
    a = await mod.post("thread A", ip="198.51.100.1")
    b = await mod.post("thread B", ip="198.51.100.2")
    in_a = await mod.post("spam in A", thread=a, ip=SPAMMER)
    await mod.post("spam in A again", thread=a, ip=SPAMMER)
    in_b = await mod.post("spam in B", thread=b, ip=SPAMMER)
    assert await mod.moderation.actions.delete_by_poster(MOD, "b", in_a, "thread") == 2
    assert (await mod.boards.thread("b", a)).replies == []
    assert [p.no for p in (await mod.boards.thread("b", b)).replies] == [in_b]
    assert await order(mod) == [b, a]


async def test_deleting_one_reply_restores_the_bump(mod: Mod) -> None:
    a = await mod.post("thread A")
    b = await mod.post("thread B")
    reply = await mod.post("bump", thread=a, ip=SPAMMER)
    assert await order(mod) == [a, b]
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.delete_post(MOD.__class__(user_id=9, username="nobody"), "b", reply)
    assert not await mod.moderation.actions.delete_post(JANITOR, "b", reply)
    assert await order(mod) == [b, a]
    assert await mod.moderation.actions.delete_post(JANITOR, "b", b)  # an opening post: the thread goes
    assert await order(mod) == [a]

"""Bans by address and range, board or site, with expiry; the ban page; appeals; warnings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from imageboard.boards import staff
from imageboard.core.errors import Conflict, InvalidInput, NotFound
from imageboard.moderation import Banned, BanRequest, MissingPermission, Warned

from .conftest import ADMIN, GLOBAL_MOD, JANITOR, MOD, OTHER_MOD, Mod

POSTER = "203.0.113.7"


async def test_ban_by_ipv4_refuses_posting_on_that_board_only(mod: Mod) -> None:
    op = await mod.post("spam thread", ip=POSTER)
    ban = await mod.moderation.bans.ban_post(MOD, "b", op, BanRequest(reason="Spamming.", hours=24, public_mark=True))
    assert ban.network == POSTER and ban.board == "b" and ban.active
    with pytest.raises(Banned, match="Spamming"):
        await mod.post("again", ip=POSTER)
    with pytest.raises(Banned):
        await mod.post("a reply", thread=op, ip=POSTER)
    await mod.post("on another board", ip=POSTER, board="tech")  # board ban: other boards are fine
    await mod.post("a neighbour", ip="203.0.113.8")  # one address, not the range
    page = await mod.moderation.bans.ban_page(POSTER)
    assert [b.reason for b in page.bans] == ["Spamming."]
    assert page.bans[0].expires_at is not None
    assert page.bans[0].expires_at - page.bans[0].created_at == timedelta(hours=24)
    assert (await mod.moderation.bans.ban_page("198.51.100.1")).bans == []
    # The public mark is on the post for everyone to see.
    thread = await mod.boards.thread("b", op)
    assert "(USER WAS BANNED FOR THIS POST)" in thread.op.comment_html
    assert "spam thread" in thread.op.comment_html


async def test_site_wide_ban_and_who_may_give_it(mod: Mod) -> None:
    op = await mod.post("hello", ip=POSTER)
    with pytest.raises(MissingPermission, match="'ban' permission site-wide"):
        await mod.moderation.bans.ban_post(MOD, "b", op, BanRequest(reason="x", scope="site"))
    with pytest.raises(MissingPermission, match="'ban' permission on /b/"):
        await mod.moderation.bans.ban_post(JANITOR, "b", op, BanRequest(reason="x"))
    with pytest.raises(MissingPermission):
        await mod.moderation.bans.ban_post(OTHER_MOD, "b", op, BanRequest(reason="x"))
    await mod.moderation.bans.ban_post(GLOBAL_MOD, "b", op, BanRequest(reason="Everywhere.", scope="site"))
    with pytest.raises(Banned):
        await mod.post("tech too", ip=POSTER, board="tech")


async def test_ipv6_range_ban(mod: Mod) -> None:
    op = await mod.post("from a phone", ip="2001:db8:1:2::10")
    ban = await mod.moderation.bans.ban_post(MOD, "b", op, BanRequest(reason="Range.", prefix=64))
    assert ban.network == "2001:db8:1:2::/64"
    with pytest.raises(Banned):
        await mod.post("new address, same /64", ip="2001:db8:1:2:ffff:1:2:3")
    await mod.post("the next /64", ip="2001:db8:1:3::1")
    # A range typed in by a moderator.
    await mod.moderation.bans.ban_address(MOD, "b", "198.51.100.0/24", BanRequest(reason="Proxy range."))
    with pytest.raises(Banned):
        await mod.post("proxy", ip="198.51.100.99")
    await mod.post("next range", ip="198.51.101.1")
    with pytest.raises(InvalidInput):
        await mod.moderation.bans.ban_address(MOD, "b", "10.0.0.0/4", BanRequest(reason="too wide"))


async def test_bans_expire_and_permanent_ones_do_not(mod: Mod) -> None:
    op = await mod.post("one", ip=POSTER)
    await mod.moderation.bans.ban_post(MOD, "b", op, BanRequest(reason="An hour.", hours=1))
    other = await mod.post("two", ip="203.0.113.9")
    await mod.moderation.bans.ban_post(MOD, "b", other, BanRequest(reason="Forever.", hours=0))
    mod.clock.advance(minutes=59)
    with pytest.raises(Banned):
        await mod.post("too early", ip=POSTER)
    mod.clock.advance(minutes=2)
    await mod.post("served my time", ip=POSTER)
    mod.clock.advance(days=1000)
    with pytest.raises(Banned, match="permanently"):
        await mod.post("still?", ip="203.0.113.9")


async def test_unban(mod: Mod) -> None:
    op = await mod.post("one", ip=POSTER)
    ban = await mod.moderation.bans.ban_post(MOD, "b", op, BanRequest(reason="x"))
    with pytest.raises(MissingPermission):
        await mod.moderation.bans.unban(JANITOR, ban.id)
    await mod.moderation.bans.unban(MOD, ban.id)
    await mod.post("free again", ip=POSTER)
    with pytest.raises(Conflict):
        await mod.moderation.bans.unban(MOD, ban.id)
    assert [b.id for b in await mod.moderation.bans.list_bans(MOD, active_only=False)] == [ban.id]
    assert await mod.moderation.bans.list_bans(MOD) == []
    with pytest.raises(MissingPermission):
        await mod.moderation.bans.list_bans(JANITOR)


async def test_appeals_queue_accept_and_deny(mod: Mod) -> None:
    op = await mod.post("one", ip=POSTER)
    ban = await mod.moderation.bans.ban_post(MOD, "b", op, BanRequest(reason="x", hours=72))
    with pytest.raises(NotFound):
        await mod.moderation.bans.appeal("198.51.100.1", ban.id, "not my ban")
    with pytest.raises(InvalidInput):
        await mod.moderation.bans.appeal(POSTER, ban.id, "   ")
    await mod.moderation.bans.appeal(POSTER, ban.id, "I am sorry.")
    with pytest.raises(Conflict):
        await mod.moderation.bans.appeal(POSTER, ban.id, "Please?")
    queue = await mod.moderation.bans.appeal_queue(MOD)
    assert [(i.ban.id, i.appeal.text) for i in queue] == [(ban.id, "I am sorry.")]
    assert queue[0].ban.network == POSTER  # moderators see the address
    assert await mod.moderation.bans.appeal_queue(OTHER_MOD) == []
    assert await mod.moderation.bans.appeal_queue(JANITOR) == []
    with pytest.raises(MissingPermission):
        await mod.moderation.bans.decide_appeal(OTHER_MOD, queue[0].appeal.id, accept=True)
    await mod.moderation.bans.decide_appeal(MOD, queue[0].appeal.id, accept=False, response="No.")
    page = await mod.moderation.bans.ban_page(POSTER)
    assert page.bans[0].appeals[0].status == "denied" and page.bans[0].open_appeal is None
    # After a denial the poster may appeal again; this time it is accepted.
    await mod.moderation.bans.appeal(POSTER, ban.id, "Second try.")
    second = (await mod.moderation.bans.appeal_queue(ADMIN))[0].appeal
    await mod.moderation.bans.decide_appeal(ADMIN, second.id, accept=True)
    with pytest.raises(Conflict):
        await mod.moderation.bans.decide_appeal(ADMIN, second.id, accept=True)
    await mod.post("unbanned", ip=POSTER)
    assert (await mod.moderation.bans.ban_page(POSTER)).bans == []
    with pytest.raises(InvalidInput):
        await mod.moderation.bans.appeal(POSTER, ban.id, "after the ban ended")


async def test_a_warning_is_shown_once(mod: Mod) -> None:
    op = await mod.post("rude", ip=POSTER)
    with pytest.raises(MissingPermission):
        await mod.moderation.bans.warn_post(JANITOR, "b", op, "Be nice.")
    await mod.moderation.bans.warn_post(MOD, "b", op, "Be nice.")
    assert [w.reason for w in (await mod.moderation.bans.ban_page(POSTER)).warnings] == ["Be nice."]
    with pytest.raises(Warned, match="Be nice"):
        await mod.post("next", ip=POSTER)
    await mod.post("after reading it", ip=POSTER)


async def test_a_post_whose_address_is_gone_cannot_be_banned(mod: Mod) -> None:
    op = await mod.post("old", ip=POSTER)
    async with mod.moderation.ctx.db.writer() as session:
        await staff.purge_post_ips(session, mod.clock.now, days=0)
    with pytest.raises(InvalidInput, match="no longer kept"):
        await mod.moderation.bans.ban_post(MOD, "b", op, BanRequest(reason="x"))

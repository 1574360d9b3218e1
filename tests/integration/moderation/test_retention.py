"""Posters' addresses are kept for the retention period, then removed by the scheduled job."""

from __future__ import annotations

from imageboard.moderation import BanRequest, purge_old_ips

from .conftest import ADMIN, MOD, OWNER, Mod


async def test_purge_old_ips(mod: Mod) -> None:
    await mod.moderation.admin.update_board(OWNER, "b", {"ip_retention_days": 7})
    old_b = await mod.post("old on b", ip="203.0.113.1")
    old_tech = await mod.post("old on tech", ip="203.0.113.2", board="tech")
    expired = await mod.post("to be banned briefly", ip="203.0.113.3")
    permanent = await mod.post("banned for good", ip="203.0.113.4")
    await mod.moderation.bans.ban_post(MOD, "b", expired, BanRequest(reason="short", hours=1))
    await mod.moderation.bans.ban_post(MOD, "b", permanent, BanRequest(reason="forever"))
    site = await mod.moderation.admin.site_settings()
    await mod.moderation.reports.file("b", old_b, "global:1", "198.51.100.50", site)

    mod.clock.advance(days=8)
    fresh = await mod.post("fresh on b", ip="203.0.113.5")
    result = await mod.moderation.purge_old_ips()
    assert result.post_ips == 3  # /b/ keeps 7 days: its three old posts; /tech/ keeps 30
    detail = await mod.moderation.actions.detail(ADMIN, "b", old_b)
    assert detail.ip is None
    assert (await mod.moderation.actions.detail(ADMIN, "b", fresh)).ip == "203.0.113.5"
    assert (await mod.moderation.actions.detail(ADMIN, "tech", old_tech)).ip == "203.0.113.2"

    mod.clock.advance(days=23)
    newest = await mod.post("newest on tech", ip="203.0.113.6", board="tech")
    result = await purge_old_ips(mod.moderation.ctx.db, clock=mod.clock)  # as the CLI runs it
    assert result.post_ips == 2  # the old /tech/ post (30 days) and the "fresh" /b/ one (7 days)
    assert result.report_ips == 1  # reporters: the site's 30 days
    assert result.bans == 1  # the expired ban, with its address; the permanent one stays
    assert [b.reason for b in await mod.moderation.bans.list_bans(ADMIN, active_only=False)] == ["forever"]
    assert (await mod.moderation.actions.detail(ADMIN, "tech", newest)).ip == "203.0.113.6"
    # An explicit number of days applies to every board.
    assert (await mod.moderation.purge_old_ips(days=0)).post_ips == 1
    assert (await mod.moderation.actions.detail(ADMIN, "tech", newest)).ip is None

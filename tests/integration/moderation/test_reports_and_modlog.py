"""Reports (board and global queues, dismiss, act, ban the reporter) and the mod log."""

from __future__ import annotations

import pytest

from imageboard.core.errors import Conflict, InvalidInput, NotFound
from imageboard.moderation import Banned, BanRequest, MissingPermission

from .conftest import ADMIN, GLOBAL_JANITOR, JANITOR, MOD, OTHER_MOD, OWNER, Mod


async def file(mod: Mod, no: int, reason: str, ip: str, board: str = "b") -> None:
    site = await mod.moderation.admin.site_settings()
    await mod.moderation.reports.file(board, no, reason, ip, site)


async def test_reports_queues_and_handling(mod: Mod) -> None:
    await mod.moderation.admin.update_board(OWNER, "b", {"rules": "No spam.\nStay on topic."})
    op = await mod.post("off topic")
    await file(mod, op, "board:2", "198.51.100.1")
    await file(mod, op, "board:1", "198.51.100.2")
    with pytest.raises(Conflict):
        await file(mod, op, "board:1", "198.51.100.1")  # one report per post per address
    with pytest.raises(InvalidInput):
        await file(mod, op, "board:3", "198.51.100.3")
    with pytest.raises(InvalidInput):
        await file(mod, op, "nonsense", "198.51.100.3")
    for digit in ("²", "①"):  # digits to str.isdigit, not to int()
        with pytest.raises(InvalidInput):
            await file(mod, op, f"board:{digit}", "198.51.100.3")
    await file(mod, op, "global:1", "198.51.100.3")
    with pytest.raises(NotFound):
        await file(mod, 999, "board:1", "198.51.100.3")

    board_queue, global_queue = await mod.moderation.reports.queues(MOD)
    assert global_queue == []
    assert [sorted(r.reason for r in g.reports) for g in board_queue] == [["No spam.", "Stay on topic."]]
    assert board_queue[0].post.no == op
    assert {r.reporter for r in board_queue[0].reports} == {"198.51.100.1", "198.51.100.2"}
    jan_queue, _ = await mod.moderation.reports.queues(JANITOR)
    assert {r.reporter for r in jan_queue[0].reports} == {"198.51.x.x"}
    assert await mod.moderation.reports.queues(OTHER_MOD) == ([], [])
    site_board, site_global = await mod.moderation.reports.queues(GLOBAL_JANITOR)
    assert len(site_board) == 1 and [r.reason for r in site_global[0].reports] == [
        "Do not post anything that is illegal where this site is hosted."
    ]

    first = board_queue[0].reports[0].id
    global_id = site_global[0].reports[0].id
    with pytest.raises(MissingPermission):
        await mod.moderation.reports.dismiss(OTHER_MOD, first)
    with pytest.raises(MissingPermission, match="site-wide"):
        await mod.moderation.reports.dismiss(MOD, global_id)  # global reports are for site staff
    await mod.moderation.reports.dismiss(JANITOR, first)
    with pytest.raises(NotFound):
        await mod.moderation.reports.dismiss(JANITOR, first)
    await mod.moderation.reports.dismiss(GLOBAL_JANITOR, global_id)

    # Banning the reporter of an abusive report.
    abusive = (await mod.moderation.reports.queues(MOD))[0][0].reports[0]
    with pytest.raises(MissingPermission):
        await mod.moderation.reports.ban_reporter(JANITOR, abusive.id, BanRequest(reason="Report abuse."))
    await mod.moderation.reports.ban_reporter(MOD, abusive.id, BanRequest(reason="Report abuse.", hours=24))
    with pytest.raises(Banned):
        await mod.post("the reporter posts", ip="198.51.100.2")
    assert await mod.moderation.reports.queues(MOD) == ([], [])


async def test_acting_on_a_post_closes_its_reports(mod: Mod) -> None:
    op = await mod.post("bad words")
    await file(mod, op, "global:2", "198.51.100.1")
    await mod.moderation.actions.edit_post(MOD, "b", op, "[removed]")
    assert await mod.moderation.reports.queues(ADMIN) == ([], [])
    reply = await mod.post("reply", thread=op)
    await file(mod, reply, "global:2", "198.51.100.1")
    await mod.moderation.actions.delete_post(JANITOR, "b", reply)
    assert await mod.moderation.reports.queues(ADMIN) == ([], [])


async def test_mod_log_names_hidden_or_shown_as_the_board_chooses(mod: Mod) -> None:
    op = await mod.post("thread", ip="203.0.113.7")
    reply = await mod.post("reply", thread=op, ip="203.0.113.7")
    await mod.moderation.actions.set_flag(MOD, "b", op, "sticky", True)
    await mod.moderation.bans.ban_post(MOD, "b", reply, BanRequest(reason="Rule 1.", hours=1))
    await mod.moderation.actions.delete_post(JANITOR, "b", reply, "spam")
    await mod.post("tech thread", board="tech")
    tech_op = (await mod.boards.board_page("tech", 1)).threads[0].state.no
    await mod.moderation.actions.set_flag(OTHER_MOD, "tech", tech_op, "locked", True)

    board, entries = await mod.moderation.admin.public_log("b")
    assert board.board.uri == "b"
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("delete_post", f"/b/{reply}", None),
        ("ban", f"/b/{reply}", None),
        ("sticky", f"/b/{op}", None),
    ]
    assert entries[1].reason == "Rule 1."
    flat = repr(entries)
    assert "203.0.113.7" not in flat  # the public log never holds an address
    await mod.moderation.admin.update_board(OWNER, "b", {"modlog_show_names": True})
    _, entries = await mod.moderation.admin.public_log("b")
    assert [e.actor for e in entries][:4] == ["owner", "jan", "mod", "mod"]
    # Staff see names in their own log, for their boards only.
    assert {e.board for e in await mod.moderation.admin.staff_log(MOD)} == {"b"}
    assert {e.board for e in await mod.moderation.admin.staff_log(ADMIN)} == {"b", "tech"}
    with pytest.raises(NotFound):
        await mod.moderation.admin.public_log("nope")

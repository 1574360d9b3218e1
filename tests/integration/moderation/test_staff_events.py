"""Staff actions record their domain events in the action's transaction: exactly the events
expected, none for a refused action, and never an address in a payload."""

from __future__ import annotations

import pytest

from imageboard.boards import BoardSpec
from imageboard.core.db import Database
from imageboard.events import (
    BanCreated,
    BoardUpdated,
    Event,
    PostCreated,
    PostDeleted,
    PostUpdated,
    ReportCreated,
    ThreadUpdated,
    decode_event,
)
from imageboard.events import repository as events_repo
from imageboard.moderation import BanRequest, MissingPermission
from imageboard.moderation.schemas import SiteSettings
from imageboard.search.service import SearchService
from imageboard.search.tasks import index_created_post

from .conftest import ADMIN, GLOBAL_MOD, JANITOR, MOD, OTHER_MOD, OWNER, Mod

SPAMMER = "198.51.100.66"
OTHER = "203.0.113.7"


class Outbox:
    """The events recorded since the last look, read back from the outbox rows."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.seen = 0
        self.payloads: list[str] = []

    async def new(self) -> list[Event]:
        async with self.db.reader() as session:
            rows = await events_repo.outbox_rows(session)
        fresh = rows[self.seen :]
        self.seen = len(rows)
        self.payloads += [row.payload for row in fresh]
        return [decode_event(row.payload) for row in fresh]


@pytest.fixture
async def outbox(mod: Mod, database: Database) -> Outbox:
    box = Outbox(database)
    await box.new()  # what setting up recorded
    return box


def shape(events: list[Event]) -> list[tuple[object, ...]]:
    return [(e.type, e.board, getattr(e, "thread_no", None), getattr(e, "post_no", None)) for e in events]


async def test_deleting_posts_and_threads(mod: Mod, outbox: Outbox) -> None:
    op = await mod.post("thread")
    reply = await mod.post("reply", thread=op)
    other = await mod.post("another reply", thread=op)
    await outbox.new()
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.delete_post(OTHER_MOD, "b", reply)
    assert await outbox.new() == []
    await mod.moderation.actions.delete_post(JANITOR, "b", reply)
    [deleted] = await outbox.new()
    assert isinstance(deleted, PostDeleted)
    assert (deleted.board, deleted.thread_no, deleted.post_no) == ("b", op, reply)
    assert deleted.by_staff and not deleted.is_op and deleted.file_hashes == []
    # The opening post takes the thread: one event stands for it and its replies.
    await mod.moderation.actions.delete_post(MOD, "b", op)
    [thread] = await outbox.new()
    assert isinstance(thread, PostDeleted) and thread.is_op and thread.by_staff
    assert (thread.thread_no, thread.post_no) == (op, op)
    assert other != op


async def test_deleting_by_poster_announces_each_post_and_each_thread_once(mod: Mod, outbox: Outbox) -> None:
    spam_thread = await mod.post("spam thread", ip=SPAMMER)
    await mod.post("spam in my own thread", thread=spam_thread, ip=SPAMMER)
    await mod.post("a reply to the spam", thread=spam_thread, ip=OTHER)
    good = await mod.post("a good thread", ip=OTHER)
    spam_reply = await mod.post("spam reply", thread=good, ip=SPAMMER)
    elsewhere = await mod.post("a thread on tech", board="tech", ip=OTHER)
    await mod.post("spam on tech", thread=elsewhere, board="tech", ip=SPAMMER)
    await outbox.new()
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.delete_by_poster(MOD, "b", spam_reply, "site")
    assert await outbox.new() == []
    assert await mod.moderation.actions.delete_by_poster(MOD, "b", spam_reply, "board") == 4
    events = await outbox.new()
    assert sorted(shape(events)) == sorted(
        [("post.deleted", "b", spam_thread, spam_thread), ("post.deleted", "b", good, spam_reply)]
    )
    assert all(isinstance(e, PostDeleted) and e.by_staff for e in events)
    assert {e.post_no: e.is_op for e in events if isinstance(e, PostDeleted)} == {spam_thread: True, spam_reply: False}


async def test_thread_flags_announce_only_what_changed(mod: Mod, outbox: Outbox) -> None:
    op = await mod.post("thread")
    await outbox.new()
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.set_flag(JANITOR, "b", op, "sticky", True)
    assert await outbox.new() == []
    await mod.moderation.actions.set_flag(MOD, "b", op, "sticky", True)
    [sticky] = await outbox.new()
    assert isinstance(sticky, ThreadUpdated)
    assert (sticky.sticky, sticky.locked, sticky.cyclic) == (True, None, None)
    await mod.moderation.actions.set_flag(MOD, "b", op, "sticky", True)  # already sticky
    assert await outbox.new() == []
    await mod.moderation.actions.set_flag(MOD, "b", op, "locked", True)
    await mod.moderation.actions.set_flag(MOD, "b", op, "cyclic", True)
    locked, cyclic = await outbox.new()
    assert isinstance(locked, ThreadUpdated) and isinstance(cyclic, ThreadUpdated)
    assert (locked.sticky, locked.locked, locked.cyclic) == (None, True, None)
    assert (cyclic.sticky, cyclic.locked, cyclic.cyclic) == (None, None, True)


async def test_moving_a_thread(mod: Mod, outbox: Outbox) -> None:
    op = await mod.post("belongs on tech")
    await mod.post("a reply that moves along", thread=op)
    await outbox.new()
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.move_thread(MOD, "b", op, "tech")
    assert await outbox.new() == []
    new_no = await mod.moderation.actions.move_thread(GLOBAL_MOD, "b", op, "tech")
    old, new = await outbox.new()
    assert isinstance(old, PostDeleted) and old.is_op and old.by_staff and old.file_hashes == []
    assert (old.board, old.thread_no, old.post_no) == ("b", op, op)
    assert isinstance(new, PostCreated) and new.is_op
    assert (new.board, new.thread_no, new.post_no) == ("tech", new_no, new_no)
    assert new.post["comment"] == "belongs on tech" and new.post["board"] == "tech"


async def test_editing_a_post_sends_the_post_as_shown(mod: Mod, outbox: Outbox) -> None:
    op = await mod.post("thread")
    reply = await mod.post("a typo", thread=op)
    await outbox.new()
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.edit_post(JANITOR, "b", reply, "fixed")
    assert await outbox.new() == []
    await mod.moderation.actions.edit_post(MOD, "b", reply, "fixed <b>")
    [edited] = await outbox.new()
    assert isinstance(edited, PostUpdated) and PostUpdated.public
    assert (edited.board, edited.thread_no, edited.post_no, edited.is_op) == ("b", op, reply, False)
    assert edited.post["comment"] == "fixed <b>" and "&lt;b&gt;" in edited.post["comment_html"]
    assert edited.post["edited_at"] is not None


async def test_bans_with_and_without_the_public_mark(mod: Mod, outbox: Outbox) -> None:
    op = await mod.post("thread", ip=OTHER)
    marked = await mod.post("banned for this", thread=op, ip=SPAMMER)
    quiet = await mod.post("banned quietly", thread=op, ip="198.51.100.67")
    await outbox.new()
    request = BanRequest(reason="spam", hours=24, public_mark=True)
    with pytest.raises(MissingPermission):
        await mod.moderation.bans.ban_post(JANITOR, "b", marked, request)
    assert await outbox.new() == []
    view = await mod.moderation.bans.ban_post(MOD, "b", marked, request)
    ban, mark = await outbox.new()
    assert isinstance(ban, BanCreated) and not BanCreated.public
    assert (ban.board, ban.ban_id, ban.thread_no, ban.post_no, ban.reason) == ("b", view.id, op, marked, "spam")
    assert isinstance(mark, PostUpdated) and mark.post_no == marked
    assert "ban-message" in mark.post["comment_html"]
    await mod.moderation.bans.ban_post(MOD, "b", quiet, BanRequest(reason="quiet", hours=1))
    [only] = await outbox.new()
    assert isinstance(only, BanCreated) and only.post_no == quiet
    await mod.moderation.bans.ban_address(ADMIN, None, "192.0.2.0/24", BanRequest(reason="range", scope="site"))
    [site] = await outbox.new()
    assert isinstance(site, BanCreated) and site.board is None and site.post_no is None
    for payload in outbox.payloads:
        assert SPAMMER not in payload and "198.51.100" not in payload and "192.0.2" not in payload


async def test_approving_and_rejecting_held_posts(mod: Mod, outbox: Outbox) -> None:
    await mod.moderation.admin.update_board(OWNER, "b", {"hold_threads": True})
    assert shape(await outbox.new()) == [("board.updated", "b", None, None)]
    held = await mod.post("waits for approval")
    assert await outbox.new() == []  # invisible: nothing announced it
    rejected = await mod.post("waits too")
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.approve(OTHER_MOD, "b", held)
    assert await outbox.new() == []
    await mod.moderation.actions.approve(MOD, "b", held)
    [created] = await outbox.new()
    assert isinstance(created, PostCreated) and created.is_op
    assert (created.thread_no, created.post_no) == (held, held)
    assert created.post["comment"] == "waits for approval"
    await mod.moderation.actions.reject(MOD, "b", rejected)
    [gone] = await outbox.new()
    assert isinstance(gone, PostDeleted) and gone.is_op and gone.post_no == rejected and gone.by_staff


async def test_reports_and_board_settings(mod: Mod, outbox: Outbox) -> None:
    with pytest.raises(MissingPermission):
        await mod.moderation.admin.update_board(MOD, "b", {"rules": "No spam."})
    assert await outbox.new() == []
    await mod.moderation.admin.update_board(OWNER, "b", {"rules": "No spam.", "title": "Random stuff"})
    [settings] = await outbox.new()
    assert isinstance(settings, BoardUpdated) and settings.fields == ["rules", "title"]
    await mod.moderation.admin.update_board(OWNER, "b", {"rules": "No spam.", "title": "Random stuff"})
    assert await outbox.new() == []  # nothing changed
    op = await mod.post("report me")
    await outbox.new()
    site = SiteSettings(global_rules="Be nice.", board_creation="admins", ip_retention_days=30)
    await mod.moderation.reports.file("b", op, "board:1", "192.0.2.55", site)
    [report] = await outbox.new()
    assert isinstance(report, ReportCreated) and not ReportCreated.public
    assert (report.board, report.thread_no, report.post_no, report.category, report.reason) == (
        "b",
        op,
        op,
        "board",
        "No spam.",
    )
    assert report.report_id > 0
    assert all("192.0.2.55" not in payload for payload in outbox.payloads)


async def test_no_event_carries_an_address(mod: Mod, outbox: Outbox) -> None:
    await mod.boards.create_board(BoardSpec(uri="q", title="Questions", require_file=False))
    op = await mod.post("thread", ip=SPAMMER, board="q")
    reply = await mod.post("reply", thread=op, ip=SPAMMER, board="q")
    on_b = await mod.post("on b", ip=SPAMMER)
    await mod.moderation.actions.edit_post(MOD, "b", on_b, "edited")
    await mod.moderation.bans.ban_post(ADMIN, "q", reply, BanRequest(reason="x", public_mark=True))
    await mod.moderation.actions.move_thread(ADMIN, "q", op, "tech")
    await mod.moderation.actions.delete_by_poster(ADMIN, "b", on_b, "site")
    events = await outbox.new()
    assert {e.type for e in events} >= {"post.updated", "ban.created", "post.deleted", "post.created"}
    for payload in outbox.payloads:
        assert SPAMMER not in payload
        assert '"ip"' not in payload


async def test_search_in_worker_mode_follows_staff_actions(mod: Mod, outbox: Outbox, database: Database) -> None:
    """With IMAGEBOARD_SEARCH_INDEXING=worker the search group indexes what post.created
    announces; staff deletions and moves leave (or follow) the results at their commit."""
    search = SearchService(database)
    op = await mod.post("zebrafish thread")
    reply = await mod.post("zebrafish reply", thread=op)
    for event in await outbox.new():
        await index_created_post(search, event)  # the worker's handler
    assert {h.no for h in (await search.search("zebrafish")).hits} == {op, reply}
    await mod.moderation.actions.delete_post(MOD, "b", reply)
    assert [h.no for h in (await search.search("zebrafish")).hits] == [op]
    new_no = await mod.moderation.actions.move_thread(GLOBAL_MOD, "b", op, "tech")
    for event in await outbox.new():  # a redelivered or late post.created changes nothing
        await index_created_post(search, event)
    assert [(h.board, h.no) for h in (await search.search("zebrafish")).hits] == [("tech", new_no)]
    await mod.moderation.actions.delete_post(GLOBAL_MOD, "tech", new_no)
    for event in await outbox.new():
        assert not await index_created_post(search, event)
    assert (await search.search("zebrafish")).hits == []
    await mod.moderation.admin.update_board(OWNER, "b", {"hold_threads": True})
    held = await mod.post("okapi held thread")
    assert (await search.search("okapi")).hits == []
    await mod.moderation.actions.approve(MOD, "b", held)
    created = [e for e in await outbox.new() if isinstance(e, PostCreated)]
    assert [await index_created_post(search, e) for e in created] == [True]
    assert [h.no for h in (await search.search("okapi")).hits] == [held]

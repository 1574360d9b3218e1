"""Staff actions on threads and posts: sticky, lock, cyclic, move, edit, files, IP display."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from imageboard.core.db import ReadSession, WriteSession
from imageboard.core.errors import Forbidden, InvalidInput
from imageboard.moderation import MissingPermission

from .conftest import ADMIN, GLOBAL_JANITOR, GLOBAL_MOD, JANITOR, MOD, OTHER_MOD, Mod


async def test_sticky_lock_cyclic(mod: Mod) -> None:
    a = await mod.post("first")
    b = await mod.post("second")
    with pytest.raises(MissingPermission, match="'sticky' permission on /b/"):
        await mod.moderation.actions.set_flag(JANITOR, "b", a, "sticky", True)
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.set_flag(OTHER_MOD, "b", a, "sticky", True)
    await mod.moderation.actions.set_flag(MOD, "b", a, "sticky", True)
    assert [t.state.no for t in (await mod.boards.board_page("b", 1)).threads] == [a, b]
    await mod.moderation.actions.set_flag(MOD, "b", b, "locked", True)
    with pytest.raises(Forbidden, match="closed"):
        await mod.post("reply to a closed thread", thread=b)
    await mod.moderation.actions.set_flag(MOD, "b", b, "locked", False)
    await mod.post("reply again", thread=b)
    await mod.moderation.actions.set_flag(GLOBAL_MOD, "b", a, "cyclic", True)
    state = (await mod.boards.thread("b", a)).state
    assert state.sticky and state.cyclic and not state.locked


async def test_edit_marks_the_post_edited(mod: Mod) -> None:
    op = await mod.post("thread")
    reply = await mod.post("a typo", thread=op)
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.edit_post(JANITOR, "b", reply, "x")
    mod.clock.advance(minutes=3)
    await mod.moderation.actions.edit_post(MOD, "b", reply, f">>{op}\n>fixed <b>")
    post = (await mod.boards.thread("b", op)).replies[0]
    assert post.edited_at == mod.clock.now
    assert post.comment == f">>{op}\n>fixed <b>"
    assert 'class="quote"' in post.comment_html and "&lt;b&gt;" in post.comment_html
    assert [b.post_no for b in (await mod.boards.thread("b", op)).op.backlinks] == [reply]
    with pytest.raises(InvalidInput):
        await mod.moderation.actions.edit_post(MOD, "b", reply, "x" * 5000)


async def test_move_thread_to_another_board(mod: Mod) -> None:
    keep = await mod.post("stays on b")
    op = await mod.post("belongs on tech")
    r1 = await mod.post(f">>{op} agreed", thread=op)
    await mod.post(f">>{r1} and >>{keep}", thread=op)
    for actor in (MOD, OTHER_MOD, JANITOR):
        with pytest.raises(MissingPermission):
            await mod.moderation.actions.move_thread(actor, "b", op, "tech")
    new_no = await mod.moderation.actions.move_thread(GLOBAL_MOD, "b", op, "tech")
    moved = await mod.boards.thread("tech", new_no)
    assert moved.op.comment == "belongs on tech"
    assert [p.comment for p in moved.replies] == [f">>{new_no} agreed", f">>{new_no + 1} and >>>/b/{keep}"]
    assert f'href="/b/thread/{keep}#p{keep}"' in moved.replies[1].comment_html
    assert [b.post_no for b in moved.op.backlinks] == [new_no + 1]
    # The old address keeps a closed, archived notice pointing to the new thread.
    notice = await mod.boards.thread("b", op)
    assert notice.state.archived and notice.state.locked
    assert f"/tech/thread/{new_no}" in notice.op.comment_html
    assert [t.state.no for t in (await mod.boards.board_page("b", 1)).threads] == [keep]
    with pytest.raises(InvalidInput):
        await mod.moderation.actions.move_thread(ADMIN, "tech", new_no, "tech")
    # New posts on the target board continue its numbering.
    assert await mod.post("next on tech", board="tech") == new_no + 3


class FakeFiles:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []

    async def delete_files_of_posts(self, session: WriteSession, post_ids: Sequence[int]) -> int:
        self.calls.append(("delete", list(post_ids)))
        return 1

    async def spoiler_files_of_posts(self, session: WriteSession, post_ids: Sequence[int]) -> int:
        self.calls.append(("spoiler", list(post_ids)))
        return len(post_ids)

    async def file_hashes_of_posts(
        self, session: ReadSession | WriteSession, post_ids: Sequence[int]
    ) -> list[tuple[str, int | None]]:
        return [("ab" * 32, None)]

    async def count_live_files(self, session: ReadSession | WriteSession, post_ids: Sequence[int]) -> int:
        self.calls.append(("count", list(post_ids)))
        return 0


async def test_file_actions_go_through_the_media_port(mod: Mod) -> None:
    op = await mod.post("with a file")
    with pytest.raises(InvalidInput, match="no file"):
        await mod.moderation.actions.delete_file(JANITOR, "b", op)
    files = FakeFiles()
    mod.moderation.use_files(files)
    await mod.moderation.actions.delete_file(JANITOR, "b", op)
    await mod.moderation.actions.spoiler_file(GLOBAL_JANITOR, "b", op)
    # A deleted file leaves the thread's image count rebuilt from its replies (it has none).
    assert files.calls[1] == ("count", [])
    assert [kind for kind, _ in files.calls] == ["delete", "count", "spoiler"]
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.spoiler_file(OTHER_MOD, "b", op)


async def test_addresses_are_shown_as_the_role_allows(mod: Mod) -> None:
    op = await mod.post("v4", ip="203.0.113.7")
    other = await mod.post("same poster elsewhere", ip="203.0.113.7", board="tech")
    v6 = await mod.post("v6", thread=op, ip="2001:db8:aa:bb::1")
    assert (await mod.moderation.actions.detail(MOD, "b", op)).ip == "203.0.113.7"
    assert (await mod.moderation.actions.detail(JANITOR, "b", op)).ip == "203.0.x.x"
    assert (await mod.moderation.actions.detail(JANITOR, "b", v6)).ip == "2001:db8:x:x:x:x:x:x"
    assert (await mod.moderation.actions.detail(GLOBAL_JANITOR, "b", v6)).ip == "2001:db8:x:x:x:x:x:x"
    assert (await mod.moderation.actions.detail(ADMIN, "b", v6)).ip == "2001:db8:aa:bb::1"
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.detail(OTHER_MOD, "b", op)
    # Other posts from the address: only on boards the viewer has a role on.
    assert [p.no for p in (await mod.moderation.actions.detail(MOD, "b", op)).same_poster] == []
    assert [(p.board, p.no) for p in (await mod.moderation.actions.detail(ADMIN, "b", op)).same_poster] == [
        ("tech", other)
    ]

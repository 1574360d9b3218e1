"""Posts held for approval: invisible to the public, visible to staff, shown once approved."""

from __future__ import annotations

import pytest

from imageboard.boards import NewPost
from imageboard.core.errors import InvalidInput, NotFound
from imageboard.moderation import MissingPermission

from .conftest import JANITOR, OTHER_MOD, OWNER, Mod


async def test_held_thread_is_invisible_until_approved(mod: Mod) -> None:
    visible = await mod.post("an ordinary thread")
    await mod.moderation.admin.update_board(OWNER, "b", {"hold_threads": True})
    created = await mod.boards.create_post(NewPost(board="b", thread_no=0, comment="needs a look", ip="198.51.100.5"))
    assert created.held
    page = await mod.boards.board_page("b", 1)
    assert [t.state.no for t in page.threads] == [visible]
    with pytest.raises(NotFound):
        await mod.boards.thread("b", created.post_no)
    assert [e.state.no for e in (await mod.boards.catalog("b"))[1]] == [visible]
    assert [t.state.no for t in (await mod.boards.overboard(work_safe_only=False, page=1)).threads] == [visible]
    # Replies to a held thread are refused: it does not exist yet for the public.
    with pytest.raises(NotFound):
        await mod.post("reply to the held one", thread=created.post_no)
    # Staff see it in their queue; another board's staff do not.
    queue = await mod.moderation.actions.held_queue(JANITOR)
    assert [(p.board, p.no, p.is_op) for p in queue] == [("b", created.post_no, True)]
    assert "needs a look" in queue[0].view.comment_html
    assert await mod.moderation.actions.held_queue(OTHER_MOD) == []
    with pytest.raises(MissingPermission):
        await mod.moderation.actions.approve(OTHER_MOD, "b", created.post_no)
    await mod.moderation.actions.approve(JANITOR, "b", created.post_no)
    page = await mod.boards.board_page("b", 1)
    assert [t.state.no for t in page.threads] == [created.post_no, visible]  # approved: on top
    assert (await mod.boards.thread("b", created.post_no)).op.comment == "needs a look"
    assert await mod.moderation.actions.held_queue(JANITOR) == []
    with pytest.raises(InvalidInput):
        await mod.moderation.actions.approve(JANITOR, "b", created.post_no)


async def test_replies_with_links_or_files_wait_and_do_not_bump(mod: Mod) -> None:
    op = await mod.post("thread")
    other = await mod.post("a newer thread")
    await mod.moderation.admin.update_board(OWNER, "b", {"hold_links_files": True})
    plain = await mod.post("no link here", thread=op)
    linked = await mod.boards.create_post(
        NewPost(board="b", thread_no=op, comment="look at https://example.com/x", ip="198.51.100.5")
    )
    filed = await mod.boards.create_post(
        NewPost(board="b", thread_no=op, comment="pic", ip="198.51.100.6", has_files=True)
    )
    assert linked.held and filed.held
    thread = await mod.boards.thread("b", op)
    assert [p.no for p in thread.replies] == [plain]
    assert thread.state.reply_count == 1
    assert [t.state.no for t in (await mod.boards.board_page("b", 1)).threads] == [op, other]
    bumped_at = thread.state.bumped_at
    mod.clock.advance(minutes=5)
    await mod.moderation.actions.approve(JANITOR, "b", linked.post_no)
    await mod.moderation.actions.reject(JANITOR, "b", filed.post_no)
    thread = await mod.boards.thread("b", op)
    assert [p.no for p in thread.replies] == [plain, linked.post_no]
    assert thread.state.reply_count == 2
    assert thread.state.bumped_at > bumped_at
    with pytest.raises(NotFound):
        await mod.moderation.actions.detail(JANITOR, "b", filed.post_no)


async def test_first_posts_of_new_posters_wait(mod: Mod) -> None:
    op = await mod.post("thread by a regular", ip="198.51.100.1")
    await mod.moderation.admin.update_board(OWNER, "b", {"hold_new_posters": True})
    assert not (
        await mod.boards.create_post(NewPost(board="b", thread_no=op, comment="regular", ip="198.51.100.1"))
    ).held
    first = await mod.boards.create_post(NewPost(board="b", thread_no=op, comment="hi", ip="198.51.100.2"))
    assert first.held
    again = await mod.boards.create_post(NewPost(board="b", thread_no=op, comment="hello?", ip="198.51.100.2"))
    assert again.held  # still new: nothing of theirs has been approved yet
    await mod.moderation.actions.approve(JANITOR, "b", first.post_no)
    assert not (await mod.boards.create_post(NewPost(board="b", thread_no=op, comment="ok", ip="198.51.100.2"))).held
    # Staff posting with their capcode are not queued.
    staff_post = await mod.boards.create_post(
        NewPost(board="b", thread_no=op, comment="staff here", ip="198.51.100.3", capcode="mod")
    )
    assert not staff_post.held
    assert (await mod.boards.thread("b", op)).replies[-1].capcode == "mod"


async def test_backlinks_from_held_posts_stay_hidden(mod: Mod) -> None:
    op = await mod.post("thread")
    await mod.moderation.admin.update_board(OWNER, "b", {"hold_links_files": True})
    held = await mod.boards.create_post(
        NewPost(board="b", thread_no=op, comment=f">>{op}\nsee www.example.com", ip="198.51.100.9")
    )
    assert held.held
    assert (await mod.boards.thread("b", op)).op.backlinks == []
    await mod.moderation.actions.approve(JANITOR, "b", held.post_no)
    assert [b.post_no for b in (await mod.boards.thread("b", op)).op.backlinks] == [held.post_no]

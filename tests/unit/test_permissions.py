"""The permission table: every role against every action."""

from __future__ import annotations

import pytest

from imageboard.accounts import Actor, BoardRole, Permission, SiteRole

P = Permission


def actor(site: SiteRole | None = None, **boards: BoardRole) -> Actor:
    return Actor(user_id=1, username="x", site_role=site, board_roles=dict(boards))


@pytest.mark.parametrize("permission", list(Permission))
def test_admin_may_do_everything_everywhere(permission: Permission) -> None:
    assert actor(SiteRole.ADMIN).can(permission, "b") and actor(SiteRole.ADMIN).can(permission)


@pytest.mark.parametrize("permission", list(Permission))
def test_nobody_may_do_anything(permission: Permission) -> None:
    assert not actor().can(permission, "b") and not actor().can(permission)


EXPECTED = {
    # permission: (global_moderator, global_janitor, owner, moderator, janitor)
    P.VIEW_REPORTS: (1, 1, 1, 1, 1),
    P.DISMISS_REPORTS: (1, 1, 1, 1, 1),
    P.DELETE_POST: (1, 1, 1, 1, 1),
    P.DELETE_FILE: (1, 1, 1, 1, 1),
    P.SPOILER_FILE: (1, 1, 1, 1, 1),
    P.APPROVE_POSTS: (1, 1, 1, 1, 1),
    P.VIEW_IP_MASKED: (1, 1, 1, 1, 1),
    P.VIEW_MOD_LOG_NAMES: (1, 1, 1, 1, 1),
    P.DELETE_BY_POSTER: (1, 0, 1, 1, 0),
    P.STICKY: (1, 0, 1, 1, 0),
    P.LOCK: (1, 0, 1, 1, 0),
    P.CYCLIC: (1, 0, 1, 1, 0),
    P.MOVE_THREAD: (1, 0, 1, 1, 0),
    P.EDIT_POST: (1, 0, 1, 1, 0),
    P.WARN: (1, 0, 1, 1, 0),
    P.BAN: (1, 0, 1, 1, 0),
    P.HANDLE_APPEALS: (1, 0, 1, 1, 0),
    P.VIEW_IP: (1, 0, 1, 1, 0),
    P.MANAGE_FILTERS: (1, 0, 1, 1, 0),
    P.POST_CAPCODE: (1, 0, 1, 1, 0),
    P.EDIT_BOARD: (0, 0, 1, 0, 0),
    P.MANAGE_BOARD_STAFF: (0, 0, 1, 0, 0),
    P.MANAGE_USERS: (0, 0, 0, 0, 0),
    P.CREATE_ANY_BOARD: (0, 0, 0, 0, 0),
}


def test_table_covers_every_permission() -> None:
    assert set(EXPECTED) == set(Permission)


@pytest.mark.parametrize(("permission", "expected"), list(EXPECTED.items()))
def test_role_matrix(permission: Permission, expected: tuple[int, ...]) -> None:
    gmod, gjan, owner, mod, jan = expected
    assert actor(SiteRole.GLOBAL_MODERATOR).can(permission, "b") is bool(gmod)
    assert actor(SiteRole.GLOBAL_JANITOR).can(permission, "b") is bool(gjan)
    assert actor(b=BoardRole.OWNER).can(permission, "b") is bool(owner)
    assert actor(b=BoardRole.MODERATOR).can(permission, "b") is bool(mod)
    assert actor(b=BoardRole.JANITOR).can(permission, "b") is bool(jan)


@pytest.mark.parametrize("role", list(BoardRole))
@pytest.mark.parametrize("permission", list(Permission))
def test_board_roles_never_reach_other_boards_or_site_wide(role: BoardRole, permission: Permission) -> None:
    staff = actor(b=role)
    assert not staff.can(permission, "other")
    assert not staff.can(permission)


def test_janitor_cannot_ban() -> None:
    assert not actor(b=BoardRole.JANITOR).can(P.BAN, "b")
    assert not actor(SiteRole.GLOBAL_JANITOR).can(P.BAN, "b")


def test_capcodes() -> None:
    assert actor(SiteRole.ADMIN).capcode("b") == "admin"
    assert actor(b=BoardRole.MODERATOR).capcode("b") == "mod"
    assert actor(b=BoardRole.MODERATOR).capcode("g") is None
    assert actor(b=BoardRole.JANITOR).capcode("b") is None

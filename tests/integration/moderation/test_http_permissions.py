"""Every role against every staff action over HTTP.

Each action states what it needs; each role is signed in for real (site staff with a second
factor) and sends the action with a valid CSRF token. Allowed: success. Not allowed: 403
naming the missing permission. No session: 401.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from imageboard.accounts import Actor, BoardRole, Permission, SiteRole
from imageboard.moderation import BanRequest

from .http_site import JSON, Site

P = Permission
ADMIN = Actor(user_id=0, username="setup", site_role=SiteRole.ADMIN)
_unique = itertools.count(1)

Prepared = tuple[str, str, dict[str, str]]  # method, url, form


@dataclass(frozen=True)
class Action:
    name: str
    allowed: Callable[[Actor], bool]
    prepare: Callable[[Site], Awaitable[Prepared]]


def needs(*pairs: tuple[Permission, str | None]) -> Callable[[Actor], bool]:
    return lambda actor: all(actor.can(p, b) for p, b in pairs)


def needs_somewhere(permission: Permission) -> Callable[[Actor], bool]:
    return lambda actor: actor.can(permission) or any(actor.can(permission, b) for b in actor.board_roles)


def fresh_ip() -> str:
    """Each prepared action posts from its own address: earlier bans and warnings stay out of its way."""
    n = next(_unique)
    return f"2001:db8:{n // 65536:x}:{n % 65536:x}::1"


async def thread(site: Site, ip: str | None = None) -> tuple[int, int]:
    ip = ip or fresh_ip()
    op = await site.post("an opening post", ip=ip)
    reply = await site.post("a reply", thread=op, ip=ip)
    return op, reply


def on_reply(action: str, **form: str) -> Callable[[Site], Awaitable[Prepared]]:
    async def prepare(site: Site) -> Prepared:
        _op, reply = await thread(site)
        return "POST", f"/staff/post/b/{reply}/{action}", form

    return prepare


def on_thread(action: str, **form: str) -> Callable[[Site], Awaitable[Prepared]]:
    async def prepare(site: Site) -> Prepared:
        op, _reply = await thread(site)
        return "POST", f"/staff/thread/b/{op}/{action}", form

    return prepare


def on_held(action: str) -> Callable[[Site], Awaitable[Prepared]]:
    async def prepare(site: Site) -> Prepared:
        op, _reply = await thread(site)
        await site.moderation.admin.update_board(ADMIN, "b", {"hold_links_files": True})
        held = await site.post("see https://example.com", thread=op, ip=fresh_ip())
        await site.moderation.admin.update_board(ADMIN, "b", {"hold_links_files": False})
        return "POST", f"/staff/post/b/{held}/{action}", {}

    return prepare


def on_report(action: str, rule: str, **form: str) -> Callable[[Site], Awaitable[Prepared]]:
    async def prepare(site: Site) -> Prepared:
        op, _reply = await thread(site)
        settings = await site.moderation.admin.site_settings()
        await site.moderation.reports.file("b", op, rule, f"192.0.2.{next(_unique) % 250}", settings)
        board_queue, global_queue = await site.moderation.reports.queues(ADMIN)
        report = (global_queue if rule.startswith("global") else board_queue)[0].reports[0]
        return "POST", f"/staff/reports/{report.id}/{action}", form

    return prepare


def on_appeal(action: str) -> Callable[[Site], Awaitable[Prepared]]:
    async def prepare(site: Site) -> Prepared:
        ip = fresh_ip()
        _op, reply = await thread(site, ip)
        ban = await site.moderation.bans.ban_post(ADMIN, "b", reply, BanRequest(reason="x", hours=1))
        await site.moderation.bans.appeal(ip, ban.id, "please")
        appeal = (await site.moderation.bans.appeal_queue(ADMIN))[0].appeal
        return "POST", f"/staff/appeals/{appeal.id}/{action}", {"response": "ok"}

    return prepare


def static(method: str, url: str, **form: str) -> Callable[[Site], Awaitable[Prepared]]:
    async def prepare(site: Site) -> Prepared:
        return method, url, form

    return prepare


async def unban(site: Site) -> Prepared:
    ban = await site.moderation.bans.ban_address(ADMIN, "b", f"192.0.2.{next(_unique) % 250}", BanRequest(reason="x"))
    return "POST", f"/staff/bans/{ban.id}/unban", {}


async def delete_filter(site: Site) -> Prepared:
    made = await site.moderation.admin.add_filter(ADMIN, "b", f"word{next(_unique)}", is_regex=False, action="refuse")
    return "POST", f"/staff/filters/{made.id}/delete", {}


async def delete_file_ban(site: Site) -> Prepared:
    made = await site.moderation.admin.add_file_ban(ADMIN, "b", sha256=f"{next(_unique):064x}")
    return "POST", f"/staff/filebans/{made.id}/delete", {}


async def create_board(site: Site) -> Prepared:
    return "POST", "/staff/boards/new", {"uri": f"new{next(_unique)}", "title": "A new board"}


async def post_page(site: Site) -> Prepared:
    _op, reply = await thread(site)
    return "GET", f"/staff/post/b/{reply}", {}


BAN_FORM = {"reason": "Rule 1.", "hours": "1"}
ACTIONS = [
    Action("delete post", needs((P.DELETE_POST, "b")), on_reply("delete")),
    Action("delete file", needs((P.DELETE_FILE, "b")), on_reply("delete-file")),
    Action("spoiler file", needs((P.SPOILER_FILE, "b")), on_reply("spoiler-file")),
    Action(
        "delete by poster in thread", needs((P.DELETE_BY_POSTER, "b")), on_reply("delete-by-poster", scope="thread")
    ),
    Action("delete by poster on board", needs((P.DELETE_BY_POSTER, "b")), on_reply("delete-by-poster", scope="board")),
    Action("delete by poster on site", needs((P.DELETE_BY_POSTER, None)), on_reply("delete-by-poster", scope="site")),
    Action("edit post", needs((P.EDIT_POST, "b")), on_reply("edit", com="edited by staff")),
    Action("ban on board", needs((P.BAN, "b")), on_reply("ban", **BAN_FORM, public_mark="on")),
    Action("ban site-wide", needs((P.BAN, None)), on_reply("ban", **BAN_FORM, scope="site")),
    Action("ban a range", needs((P.BAN, "b")), on_reply("ban", **BAN_FORM, range="64")),
    Action("warn", needs((P.WARN, "b")), on_reply("warn", reason="Be nice.")),
    Action("approve", needs((P.APPROVE_POSTS, "b")), on_held("approve")),
    Action("reject", needs((P.APPROVE_POSTS, "b")), on_held("reject")),
    Action("sticky", needs((P.STICKY, "b")), on_thread("sticky", value="1")),
    Action("lock", needs((P.LOCK, "b")), on_thread("lock", value="1")),
    Action("cyclic", needs((P.CYCLIC, "b")), on_thread("cyclic", value="1")),
    Action("move thread", needs((P.MOVE_THREAD, "b"), (P.MOVE_THREAD, "tech")), on_thread("move", to="tech")),
    Action("dismiss report", needs((P.DISMISS_REPORTS, "b")), on_report("dismiss", "board:1")),
    Action("dismiss global report", needs((P.DISMISS_REPORTS, None)), on_report("dismiss", "global:1")),
    Action("ban reporter", needs((P.BAN, "b")), on_report("ban-reporter", "board:1", **BAN_FORM)),
    Action("accept appeal", needs((P.HANDLE_APPEALS, "b")), on_appeal("accept")),
    Action("deny appeal", needs((P.HANDLE_APPEALS, "b")), on_appeal("deny")),
    Action(
        "ban an address on board",
        needs((P.BAN, "b")),
        static("POST", "/staff/bans", board="b", network="192.0.2.0/24", **BAN_FORM),
    ),
    Action(
        "ban an address site-wide",
        needs((P.BAN, None)),
        static("POST", "/staff/bans", board="", network="192.0.2.7", **BAN_FORM),
    ),
    Action("unban", needs((P.BAN, "b")), unban),
    Action(
        "add board filter",
        needs((P.MANAGE_FILTERS, "b")),
        static("POST", "/staff/filters", board="b", pattern="spam", action="refuse"),
    ),
    Action(
        "add site filter",
        needs((P.MANAGE_FILTERS, None)),
        static("POST", "/staff/filters", board="", pattern="spam", action="refuse"),
    ),
    Action("delete filter", needs((P.MANAGE_FILTERS, "b")), delete_filter),
    Action(
        "add file ban", needs((P.MANAGE_FILTERS, "b")), static("POST", "/staff/filebans", board="b", sha256="a" * 64)
    ),
    Action("delete file ban", needs((P.MANAGE_FILTERS, "b")), delete_file_ban),
    Action(
        "board settings",
        needs((P.EDIT_BOARD, "b")),
        static("POST", "/staff/board/b/settings", title="Renamed", rules="No spam."),
    ),
    Action(
        "board staff",
        needs((P.MANAGE_BOARD_STAFF, "b")),
        static("POST", "/staff/board/b/staff", username="helper", role="janitor"),
    ),
    Action(
        "site settings",
        needs((P.MANAGE_USERS, None)),
        static("POST", "/staff/site", global_rules="Be good.", board_creation="admins", ip_retention_days="30"),
    ),
    Action("create board", needs((P.CREATE_ANY_BOARD, None)), create_board),
    Action("dashboard page", lambda actor: True, static("GET", "/staff")),
    Action("post page", needs((P.VIEW_IP_MASKED, "b")), post_page),
    Action("board settings page", needs((P.EDIT_BOARD, "b")), static("GET", "/staff/board/b")),
    Action("site settings page", needs((P.MANAGE_USERS, None)), static("GET", "/staff/site")),
    Action("bans page", needs_somewhere(P.BAN), static("GET", "/staff/bans")),
    Action("staff mod log page", needs_somewhere(P.VIEW_MOD_LOG_NAMES), static("GET", "/staff/modlog")),
]

ROLES: dict[str, tuple[SiteRole | None, dict[str, BoardRole]] | None] = {
    "admin": (SiteRole.ADMIN, {}),
    "global_moderator": (SiteRole.GLOBAL_MODERATOR, {}),
    "global_janitor": (SiteRole.GLOBAL_JANITOR, {}),
    "board_owner": (None, {"b": BoardRole.OWNER}),
    "board_moderator": (None, {"b": BoardRole.MODERATOR}),
    "board_janitor": (None, {"b": BoardRole.JANITOR}),
    "other_board_moderator": (None, {"tech": BoardRole.MODERATOR}),
    "signed_in_without_role": (None, {}),
    "no_session": None,
}


@pytest.mark.parametrize("role", list(ROLES))
async def test_every_role_against_every_staff_action(site: Site, role: str) -> None:
    await site.moderation.admin.update_board(ADMIN, "b", {"rules": "No spam."})
    await site.accounts.create_user("helper", "a long password here")
    spec = ROLES[role]
    if spec is None:
        client, csrf, actor = site.client(), "", None
    else:
        site_role, board_roles = spec
        staff = await site.staff(role.replace("_", "")[:32], site_role=site_role, boards=board_roles)
        client, csrf = staff.client, staff.csrf
        actor = Actor(user_id=1, username=role, site_role=site_role, board_roles=board_roles)
    wrong: list[str] = []
    try:
        for action in ACTIONS:
            method, url, form = await action.prepare(site)
            if method == "POST":
                response = await client.post(url, data={**form, "csrf_token": csrf}, headers=JSON)
            else:
                response = await client.get(url, headers=JSON if actor is None else {})
            expected = 401 if actor is None else 200 if action.allowed(actor) else 403
            if response.status_code != expected:
                wrong.append(f"{action.name}: {response.status_code}, expected {expected}: {response.text[:200]}")
            elif expected == 403:
                error = response.json()["error"] if method == "POST" else None
                if error is not None and (
                    error["code"] != "missing_permission" or "permission" not in error["message"]
                ):
                    wrong.append(f"{action.name}: 403 without naming the permission: {error}")
            elif expected == 401 and response.json()["error"]["code"] != "not_signed_in":
                wrong.append(f"{action.name}: 401 with {response.text[:200]}")
    finally:
        await client.aclose()
    assert not wrong, "\n".join(wrong)


def test_the_matrix_checks_what_the_issue_names() -> None:
    janitor = Actor(user_id=1, username="j", board_roles={"b": BoardRole.JANITOR})
    other = Actor(user_id=2, username="m", board_roles={"tech": BoardRole.MODERATOR})
    by_name = {a.name: a for a in ACTIONS}
    assert not by_name["ban on board"].allowed(janitor)  # a janitor cannot ban
    assert not any(
        a.allowed(other) for a in ACTIONS if a.name not in {"dashboard page", "bans page", "staff mod log page"}
    )

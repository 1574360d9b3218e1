"""Every role against the board-image forms and "ban this file", and their CSRF checks.

Banners and the spoiler image are the board owner's (``edit_board``); banning a post's file
needs ``manage_filters`` where the ban applies (and ``delete_file`` to take the file off too).
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from imageboard.accounts import Actor, Permission

from .http_site import JSON, Site
from .test_board_images_and_file_bans import picture
from .test_http_permissions import ADMIN, ROLES, needs, thread

P = Permission
_unique = itertools.count(1)


class Bytes:
    """An upload for the service (what Starlette's UploadFile offers)."""

    def __init__(self, filename: str, data: bytes) -> None:
        self.filename = filename
        self._data = data

    async def read(self, size: int = -1) -> bytes:
        chunk, self._data = (self._data, b"") if size < 0 else (self._data[:size], self._data[size:])
        return chunk


@dataclass(frozen=True)
class Request:
    url: str
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes, str]] | None = None


@dataclass(frozen=True)
class Action:
    name: str
    allowed: Callable[[Actor], bool]
    prepare: Callable[[Site], Awaitable[Request]]


def banner_file(seed: int) -> dict[str, tuple[str, bytes, str]]:
    return {"file": ("banner.png", picture(seed, 300, 100), "image/png")}


async def add_banner(site: Site) -> Request:
    return Request("/staff/board/b/banners", files=banner_file(next(_unique)))


async def remove_banner(site: Site) -> Request:
    name = await site.moderation.assets.add_banner(ADMIN, "b", Bytes("b.png", picture(next(_unique), 300, 100)))
    return Request("/staff/board/b/banners/delete", {"name": name})


async def set_spoiler(site: Site) -> Request:
    return Request("/staff/board/b/spoiler", files={"file": ("s.png", picture(next(_unique), 100, 100), "image/png")})


async def remove_spoiler(site: Site) -> Request:
    await site.moderation.assets.set_spoiler(ADMIN, "b", Bytes("s.png", picture(next(_unique), 100, 100)))
    return Request("/staff/board/b/spoiler/delete")


def ban_file(**form: str) -> Callable[[Site], Awaitable[Request]]:
    async def prepare(site: Site) -> Request:
        _op, reply = await thread(site)
        return Request(f"/staff/post/b/{reply}/ban-file", form)

    return prepare


ACTIONS = [
    Action("add banner", needs((P.EDIT_BOARD, "b")), add_banner),
    Action("remove banner", needs((P.EDIT_BOARD, "b")), remove_banner),
    Action("set spoiler image", needs((P.EDIT_BOARD, "b")), set_spoiler),
    Action("remove spoiler image", needs((P.EDIT_BOARD, "b")), remove_spoiler),
    Action("ban a post's file on the board", needs((P.MANAGE_FILTERS, "b")), ban_file(reason="Spam.")),
    Action("ban a post's file site-wide", needs((P.MANAGE_FILTERS, None)), ban_file(scope="site", match="sha256")),
    Action(
        "ban and delete a post's file",
        needs((P.MANAGE_FILTERS, "b"), (P.DELETE_FILE, "b")),
        ban_file(match="phash", delete="on"),
    ),
]


@pytest.mark.parametrize("role", list(ROLES))
async def test_every_role_against_the_new_forms(site: Site, role: str) -> None:
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
            request = await action.prepare(site)
            response = await client.post(
                request.url, data={**request.form, "csrf_token": csrf}, files=request.files, headers=JSON
            )
            expected = 401 if actor is None else 200 if action.allowed(actor) else 403
            if response.status_code != expected:
                wrong.append(f"{action.name}: {response.status_code}, expected {expected}: {response.text[:200]}")
            elif expected == 403 and response.json()["error"]["code"] != "missing_permission":
                wrong.append(f"{action.name}: 403 without naming the permission: {response.text[:200]}")
            elif expected == 401 and response.json()["error"]["code"] != "not_signed_in":
                wrong.append(f"{action.name}: 401 with {response.text[:200]}")
    finally:
        await client.aclose()
    assert not wrong, "\n".join(wrong)


def test_the_matrix_covers_the_roles_the_issue_names() -> None:
    by_name = {a.name: a for a in ACTIONS}
    roles = {name: Actor(user_id=1, username=name, site_role=s[0], board_roles=s[1]) for name, s in ROLES.items() if s}
    for name in ("add banner", "remove banner", "set spoiler image", "remove spoiler image"):
        assert by_name[name].allowed(roles["board_owner"]) and by_name[name].allowed(roles["admin"])
        assert not by_name[name].allowed(roles["board_janitor"])
        assert not by_name[name].allowed(roles["other_board_moderator"])
        assert not by_name[name].allowed(roles["board_moderator"])
    assert not by_name["ban a post's file on the board"].allowed(roles["board_janitor"])


@pytest.mark.parametrize("token", ["missing", "forged"])
async def test_the_new_forms_refuse_a_missing_or_forged_token(site: Site, token: str) -> None:
    from imageboard.accounts import SiteRole

    admin = await site.staff("admin", site_role=SiteRole.ADMIN)
    wrong: list[str] = []
    for action in ACTIONS:
        request = await action.prepare(site)
        data = dict(request.form) if token == "missing" else {**request.form, "csrf_token": "0" * 64}
        response = await admin.client.post(request.url, data=data, files=request.files, headers=JSON)
        if response.status_code != 403 or response.json()["error"]["code"] != "csrf":
            wrong.append(f"{action.name}: {response.status_code} {response.text[:150]}")
    board = await site.boards.get_board("b")
    assert not wrong, "\n".join(wrong)
    # Nothing changed: the banners are the ones the preparations added, none from the forms.
    assert len(board.banners) == sum(1 for a in ACTIONS if a.prepare is remove_banner)
    await admin.client.aclose()

"""Every staff form refuses a request without this session's CSRF token."""

from __future__ import annotations

import pytest

from imageboard.accounts import SiteRole

from .http_site import JSON, Site
from .test_http_permissions import ACTIONS, ADMIN

POST_ACTIONS = [a for a in ACTIONS if not a.name.endswith("page")]


@pytest.mark.parametrize("token", ["missing", "forged", "another session's"])
async def test_staff_forms_refuse_a_missing_or_forged_token(site: Site, token: str) -> None:
    await site.moderation.admin.update_board(ADMIN, "b", {"rules": "No spam."})
    await site.accounts.create_user("helper", "a long password here")
    admin = await site.staff("admin", site_role=SiteRole.ADMIN)
    other = await site.staff("other", site_role=SiteRole.ADMIN)
    presented = {"missing": None, "forged": "0" * 64, "another session's": other.csrf}[token]
    wrong: list[str] = []
    for action in POST_ACTIONS:
        method, url, form = await action.prepare(site)
        assert method == "POST"
        data = dict(form) if presented is None else {**form, "csrf_token": presented}
        response = await admin.client.post(url, data=data, headers=JSON)
        if response.status_code != 403 or response.json()["error"]["code"] != "csrf":
            wrong.append(f"{action.name}: {response.status_code} {response.text[:150]}")
    await admin.client.aclose()
    await other.client.aclose()
    assert not wrong, "\n".join(wrong)


async def test_a_refused_form_changes_nothing(site: Site) -> None:
    admin = await site.staff("admin", site_role=SiteRole.ADMIN)
    op = await site.post("keep me")
    response = await admin.client.post(f"/staff/post/b/{op}/delete", data={"csrf_token": "x" * 64})
    assert response.status_code == 403
    assert "reload the page" in response.text  # an HTML error page a person can act on
    assert (await site.boards.thread("b", op)).op.comment == "keep me"
    ok = await admin.client.post(f"/staff/post/b/{op}/delete", data={"csrf_token": admin.csrf})
    assert ok.status_code == 303 and ok.headers["location"] == "/b/"
    await admin.client.aclose()


async def test_cross_site_form_posts_are_refused_before_the_token_is_read(site: Site) -> None:
    admin = await site.staff("admin", site_role=SiteRole.ADMIN)
    op = await site.post("keep me")
    response = await admin.client.post(
        f"/staff/post/b/{op}/delete",
        data={"csrf_token": admin.csrf},
        headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"},
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "cross_site"
    await admin.client.aclose()

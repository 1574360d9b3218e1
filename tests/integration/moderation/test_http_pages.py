"""The moderation pages over HTTP: mod menu, dashboard, ban page and appeal, reports, mod log,
held posts, sign-in pages — server-rendered and usable without JavaScript."""

from __future__ import annotations

import re

import pytest

from imageboard.accounts import BoardRole, SiteRole

from .http_site import JSON, Site
from .test_http_permissions import ADMIN

ANON_IP = "203.0.113.7"  # the address every in-process client posts from


async def new_thread(site: Site, comment: str = "a thread", board: str = "b") -> int:
    async with site.client() as anon:
        response = await anon.post(f"/{board}/post", data={"com": comment}, headers=JSON)
        assert response.status_code == 201, response.text
        return int(response.json()["no"])


async def test_mod_menu_and_staff_styles_only_for_staff(site: Site) -> None:
    op = await new_thread(site)
    async with site.client() as anon:
        public = (await anon.get(f"/b/thread/{op}")).text
    assert f'href="/b/report/{op}"' in public
    assert "modmenu" not in public and "staff.css" not in public and "csrf_token" not in public
    janitor = await site.staff("jan", boards={"b": BoardRole.JANITOR})
    page = (await janitor.client.get(f"/b/thread/{op}")).text
    assert 'class="modmenu"' in page and "/static/css/staff.css" in page
    assert f'action="/staff/post/b/{op}/delete"' in page and janitor.csrf in page
    assert f'href="/staff/post/b/{op}#ban"' not in page  # janitors cannot ban
    moderator = await site.staff("mod", boards={"b": BoardRole.MODERATOR})
    page = (await moderator.client.get(f"/b/thread/{op}")).text
    assert f'href="/staff/post/b/{op}#ban"' in page and f'action="/staff/thread/b/{op}/sticky"' in page
    index = (await moderator.client.get("/b/")).text
    assert 'class="modmenu"' in index
    other = await site.staff("techmod", boards={"tech": BoardRole.MODERATOR})
    assert 'class="modmenu"' not in (await other.client.get(f"/b/thread/{op}")).text
    # The post form and the header are kept per what they show (web.templating.kept): staff
    # get the capcode box and the Staff link, and the anonymous page after them still does not.
    for viewer, is_staff in ((moderator.client, True), (janitor.client, True), (None, False)):
        if viewer is None:
            async with site.client() as anon:
                page = (await anon.get(f"/b/thread/{op}")).text
        else:
            page = (await viewer.get(f"/b/thread/{op}")).text
        assert ('id="postform-capcode"' in page) is is_staff, is_staff
        assert ('<a href="/staff"' in page) is is_staff, is_staff
    assert 'id="postform-capcode"' not in public and '<a href="/staff"' not in public
    for staff in (janitor, moderator, other):
        await staff.client.aclose()


async def test_report_to_ban_to_appeal_to_unban_over_plain_forms(site: Site) -> None:
    await site.moderation.admin.update_board(ADMIN, "b", {"rules": "No spam.\nNo flooding."})
    op = await new_thread(site, "buy cheap stuff")
    async with site.client() as anon:
        form = await anon.get(f"/b/report/{op}")
        assert form.status_code == 200 and 'value="board:1"' in form.text and 'value="global:1"' in form.text
        sent = await anon.post("/b/report", data={"no": str(op), "reason": "board:1"})
        assert sent.status_code == 200 and "Thank you" in sent.text
        again = await anon.post("/b/report", data={"no": str(op), "reason": "board:2"}, headers=JSON)
        assert again.status_code == 409
        bad = await anon.post("/b/report", data={"no": str(op), "reason": "board:9"}, headers=JSON)
        assert bad.status_code == 400 and bad.json()["error"]["field"] == "reason"

    moderator = await site.staff("mod", boards={"b": BoardRole.MODERATOR})
    dashboard = (await moderator.client.get("/staff")).text
    assert "No spam." in dashboard and f'id="p{op}"' in dashboard
    detail = await moderator.client.get(f"/staff/post/b/{op}")
    assert ANON_IP in detail.text and 'id="ban"' in detail.text
    banned = await moderator.client.post(
        f"/staff/post/b/{op}/ban",
        data={"csrf_token": moderator.csrf, "reason": "Spam is not allowed.", "hours": "72", "public_mark": "on"},
        headers={"referer": f"http://testserver/staff/post/b/{op}"},
    )
    assert banned.status_code == 303 and banned.headers["location"] == f"/staff/post/b/{op}"
    assert "No spam." not in (await moderator.client.get("/staff")).text  # the report was acted on

    async with site.client() as anon:
        thread = (await anon.get(f"/b/thread/{op}")).text
        assert "(USER WAS BANNED FOR THIS POST)" in thread
        refused = await anon.post("/b/post", data={"com": "more spam", "resto": str(op)})
        assert refused.status_code == 403
        assert "You are banned" in refused.text and "Spam is not allowed." in refused.text
        assert 'action="/banned/appeal"' in refused.text
        as_json = await anon.post("/b/post", data={"com": "more spam"}, headers=JSON)
        assert as_json.status_code == 403 and as_json.json()["error"]["code"] == "banned"
        assert "/banned" in as_json.json()["error"]["message"]
        page = await anon.get("/banned")
        ban_id = re.search(r'name="ban" value="(\d+)"', page.text).group(1)  # type: ignore[union-attr]
        appealed = await anon.post("/banned/appeal", data={"ban": ban_id, "text": "It was a mistake."})
        assert appealed.status_code == 200 and "Your appeal was sent" in appealed.text
        assert 'action="/banned/appeal"' not in appealed.text  # one open appeal per ban
        twice = await anon.post("/banned/appeal", data={"ban": ban_id, "text": "Hello?"}, headers=JSON)
        assert twice.status_code == 409

    dashboard = (await moderator.client.get("/staff")).text
    assert "It was a mistake." in dashboard
    appeal_id = re.search(r'action="/staff/appeals/(\d+)/accept"', dashboard).group(1)  # type: ignore[union-attr]
    accepted = await moderator.client.post(f"/staff/appeals/{appeal_id}/accept", data={"csrf_token": moderator.csrf})
    assert accepted.status_code == 303
    async with site.client() as anon:
        assert (
            await anon.post("/b/post", data={"com": "I behave now", "resto": str(op)}, headers=JSON)
        ).status_code == 201
        assert "Your address is not banned" in (await anon.get("/banned")).text
    log = (await moderator.client.get("/staff/modlog")).text
    assert "Banned a poster" in log and "Accepted an appeal" in log and "mod" in log
    await moderator.client.aclose()


async def test_janitors_see_masked_addresses(site: Site) -> None:
    op = await new_thread(site)
    janitor = await site.staff("jan", boards={"b": BoardRole.JANITOR})
    page = (await janitor.client.get(f"/staff/post/b/{op}")).text
    assert "203.0.x.x" in page and ANON_IP not in page
    global_janitor = await site.staff("gjan", site_role=SiteRole.GLOBAL_JANITOR)
    page = (await global_janitor.client.get(f"/staff/post/b/{op}")).text
    assert "203.0.x.x" in page and ANON_IP not in page
    admin = await site.staff("admin", site_role=SiteRole.ADMIN)
    assert ANON_IP in (await admin.client.get(f"/staff/post/b/{op}")).text
    for staff in (janitor, global_janitor, admin):
        await staff.client.aclose()


async def test_public_mod_log_hides_or_shows_names(site: Site) -> None:
    op = await new_thread(site)
    moderator = await site.staff("modname", boards={"b": BoardRole.MODERATOR})
    await moderator.client.post(f"/staff/thread/b/{op}/sticky", data={"csrf_token": moderator.csrf, "value": "1"})
    async with site.client() as anon:
        log = await anon.get("/b/modlog")
        assert log.status_code == 200 and "Made a thread sticky" in log.text
        assert "modname" not in log.text and ">Staff<" in log.text
        await site.moderation.admin.update_board(ADMIN, "b", {"modlog_show_names": True})
        assert "modname" in (await anon.get("/b/modlog")).text
        assert (await anon.get("/nope/modlog")).status_code == 404
    await moderator.client.aclose()


async def test_held_posts_tell_the_poster(site: Site) -> None:
    await site.moderation.admin.update_board(ADMIN, "b", {"hold_threads": True})
    async with site.client() as anon:
        page = await anon.post("/b/post", data={"com": "please approve"})
        assert page.status_code == 202 and "Waiting for approval" in page.text
        as_json = await anon.post("/b/post", data={"com": "me too"}, headers=JSON)
        assert as_json.status_code == 201 and as_json.json()["held"] is True
        assert "please approve" not in (await anon.get("/b/")).text
    janitor = await site.staff("jan", boards={"b": BoardRole.JANITOR})
    assert "please approve" in (await janitor.client.get("/staff")).text
    await janitor.client.aclose()


@pytest.mark.parametrize("language", ["en", "de"])
async def test_every_staff_page_renders(site: Site, language: str) -> None:
    op = await new_thread(site, "a thread with a link https://example.com")
    admin = await site.staff("admin", site_role=SiteRole.ADMIN)
    headers = {"accept-language": language}
    await site.moderation.admin.add_filter(ADMIN, "b", "spam", is_regex=False, action="refuse")
    await site.moderation.admin.add_file_ban(ADMIN, None, sha256="ab" * 32, perceptual="00ff00ff00ff00ff", distance=6)
    for path in (
        "/staff",
        f"/staff/post/b/{op}",
        "/staff/bans",
        "/staff/bans?all=1",
        "/staff/filters",
        "/staff/board/b",
        "/staff/site",
        "/staff/boards/new",
        "/staff/modlog",
        "/account",
        "/account/2fa",
        f"/b/thread/{op}",
        "/b/",
        f"/b/report/{op}",
        "/b/modlog",
        "/banned",
    ):
        response = await admin.client.get(path, headers=headers)
        assert response.status_code == 200, f"{path}: {response.text[:300]}"
        assert f'lang="{language}"' in response.text
    await admin.client.aclose()
    async with site.client() as anon:
        for path in ("/login", "/login/code", "/banned", "/b/modlog"):
            assert (await anon.get(path, headers=headers)).status_code == 200, path
        signed_out = await anon.get("/staff", headers=headers)
        assert signed_out.status_code == 401 and 'action="/login"' in signed_out.text  # the sign-in form


async def test_sign_in_pages(site: Site) -> None:
    await site.accounts.create_user("alice", "a long password here")
    async with site.client() as client:
        login = await client.get("/login")
        assert 'action="/login"' in login.text and 'name="password"' in login.text
        wrong = await client.post("/login", data={"username": "alice", "password": "wrong password"})
        assert wrong.status_code == 400 and "Wrong username or password" in wrong.text
        ok = await client.post("/login", data={"username": "alice", "password": "a long password here"})
        assert ok.status_code == 303 and ok.headers["location"] == "/staff"
        account = await client.get("/account")
        assert "alice" in account.text and 'action="/account/password"' in account.text
        enrol = await client.get("/account/2fa")
        assert 'name="totp_secret"' in enrol.text and "otpauth://" in enrol.text
        dashboard = await client.get("/staff")
        assert dashboard.status_code == 200 and "You hold no role on any board yet." in dashboard.text


async def test_staff_may_post_with_their_capcode(site: Site) -> None:
    op = await new_thread(site)
    moderator = await site.staff("mod", boards={"b": BoardRole.MODERATOR})
    janitor = await site.staff("jan", boards={"b": BoardRole.JANITOR})
    as_mod = await moderator.client.post(
        "/b/post", data={"com": "official word", "resto": str(op), "capcode": "on"}, headers=JSON
    )
    assert as_mod.status_code == 201
    as_jan = await janitor.client.post(
        "/b/post", data={"com": "no capcode", "resto": str(op), "capcode": "on"}, headers=JSON
    )
    unticked = await moderator.client.post("/b/post", data={"com": "as anyone", "resto": str(op)}, headers=JSON)
    async with site.client() as anon:
        forged = await anon.post("/b/post", data={"com": "fake mod", "resto": str(op), "capcode": "on"}, headers=JSON)
    replies = {p.comment: p.capcode for p in (await site.boards.thread("b", op)).replies}
    assert replies == {"official word": "mod", "no capcode": None, "as anyone": None, "fake mod": None}
    assert as_jan.status_code == unticked.status_code == forged.status_code == 201
    await moderator.client.aclose()
    await janitor.client.aclose()

"""Moderation in a real browser against the real server: a post is reported, a moderator who
signs in with two factors bans its poster with the public mark, the poster meets the ban page
and appeals, the moderator accepts the appeal, and the poster posts again. And an
administrator's two-factor sign-in. The staff side runs with JavaScript off."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.async_api import Browser, BrowserContext, FilePayload, Page, expect

from .conftest import RunningServer, start_server, stop_server

pytestmark = pytest.mark.browser

PASSWORD = "a long and secret password"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # Everyone here posts from 127.0.0.1: anti-spam limits would only get in the way.
    running = start_server(tmp_path_factory.mktemp("moderation"), {"IMAGEBOARD_ANTISPAM": "off"})
    yield running
    stop_server(running)


def create_staff(server: RunningServer, username: str, role: str) -> None:
    result = server.cli("create-user", username, "--role", role, input_text=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr


def watch_console(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return errors


async def sign_in_with_two_factors(page: Page, server: RunningServer, username: str) -> None:
    """First sign-in of site staff: password, enrol a second factor, then sign in with a code."""
    await page.goto(server.url + "/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(server.url + "/account/2fa")
    secret = (await page.locator("#totp-secret").inner_text()).strip()
    totp = pyotp.TOTP(secret)
    await page.get_by_label("Code", exact=True).fill(totp.now())
    await page.get_by_role("button", name="Turn on two-factor sign-in").click()
    await expect(page).to_have_url(server.url + "/login")
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(server.url + "/login/code")
    # The enrolment used this 30-second step's code; a code is good once, so use the next step's.
    await page.get_by_label("Code", exact=True).fill(totp.at(int(time.time()) + 30))
    await page.get_by_role("button", name="Verify").click()
    await expect(page).to_have_url(server.url + "/staff")


async def new_context(browser: Browser, *, javascript: bool) -> BrowserContext:
    return await browser.new_context(java_script_enabled=javascript)


async def test_report_ban_ban_page_appeal_unban(site: RunningServer, browser: Browser) -> None:
    create_staff(site, "moderator", "global_moderator")
    poster_ctx = await new_context(browser, javascript=True)
    reporter_ctx = await new_context(browser, javascript=True)
    staff_ctx = await new_context(browser, javascript=False)
    try:
        # An anonymous poster starts a thread.
        poster = await poster_ctx.new_page()
        poster_errors = watch_console(poster)
        await poster.goto(site.url + "/b/")
        await poster.get_by_label("Subject").fill("Cheap watches")
        await poster.get_by_label("Comment").fill("Buy cheap watches at my shop!")
        await poster.get_by_role("button", name="New Thread").click()
        await expect(poster).to_have_url(re.compile(r"/b/thread/\d+#p\d+$"))
        op = int(re.search(r"/thread/(\d+)", poster.url).group(1))  # type: ignore[union-attr]

        # Somebody else reports it.
        reporter = await reporter_ctx.new_page()
        await reporter.goto(f"{site.url}/b/thread/{op}")
        await reporter.locator(f"#p{op} .post-report a").click()
        await expect(reporter).to_have_url(f"{site.url}/b/report/{op}")
        await reporter.get_by_label("No spam, advertising or flooding.").check()
        await reporter.get_by_role("button", name="Send report").click()
        await expect(reporter.get_by_text("Thank you: the staff will look at this post.")).to_be_visible()

        # A moderator signs in with two factors and finds the report on the dashboard.
        staff = await staff_ctx.new_page()
        staff_errors = watch_console(staff)
        await sign_in_with_two_factors(staff, site, "moderator")
        report = staff.locator(".report-group", has=staff.locator(f"#p{op}"))
        await expect(report).to_contain_text("No spam, advertising or flooding.")
        await expect(report).to_contain_text("Buy cheap watches at my shop!")
        # The post's moderation menu (a <details>, no JavaScript needed) leads to the ban form.
        await report.locator(f"#p{op} .modmenu summary").click()
        await report.locator(f"#p{op} .modmenu").get_by_role("link", name="Ban").click()
        await expect(staff).to_have_url(f"{site.url}/staff/post/b/{op}#ban")
        await expect(staff.locator("#poster-ip")).to_have_text("127.0.0.1")
        ban_form = staff.locator("#ban form")
        await ban_form.get_by_label("Reason").fill("Advertising is not allowed.")
        await ban_form.get_by_label("Length").select_option(label="1 week")
        await ban_form.get_by_label("Show (USER WAS BANNED FOR THIS POST) on the post").check()
        await ban_form.get_by_role("button", name="Ban").click()
        await expect(staff.locator("#poster-ip")).to_be_visible()
        await expect(staff.get_by_text("Advertising is not allowed.")).to_be_visible()  # now among the bans
        await staff.goto(site.url + "/staff")
        await expect(staff.locator(".report-group")).to_have_count(0)  # acted on

        # The poster sees the public mark, and the ban page on the next attempt.
        await poster.goto(f"{site.url}/b/thread/{op}")
        await expect(poster.locator(f"#p{op} .ban-message")).to_have_text("(USER WAS BANNED FOR THIS POST)")
        await poster.get_by_label("Comment").fill("You can't stop me")
        await poster.get_by_role("button", name="Post Reply").click()
        await expect(poster.get_by_role("heading", name="You are banned")).to_be_visible()
        await expect(poster.locator(".ban-reason")).to_have_text("Advertising is not allowed.")
        await expect(poster.locator(".ban-expiry time")).to_be_visible()
        await poster.get_by_label("Why should it be lifted?").fill("I am sorry, it will not happen again.")
        await poster.get_by_role("button", name="Send appeal").click()
        await expect(poster.get_by_text("Your appeal was sent. The staff will read it.")).to_be_visible()
        await expect(poster.get_by_text("Your appeal is waiting for an answer.")).to_be_visible()

        # The moderator reads the appeal and lifts the ban.
        await staff.goto(site.url + "/staff")
        appeal = staff.locator(".appeal")
        await expect(appeal).to_contain_text("I am sorry, it will not happen again.")
        await appeal.get_by_role("button", name="Accept and unban").click()
        await expect(staff).to_have_url(site.url + "/staff")
        await expect(staff.locator(".appeal")).to_have_count(0)

        # The poster can post again.
        await poster.goto(f"{site.url}/b/thread/{op}")
        await poster.get_by_label("Comment").fill("Thank you, I will behave.")
        await poster.get_by_role("button", name="Post Reply").click()
        await expect(poster).to_have_url(re.compile(rf"/b/thread/{op}#p\d+$"))
        await expect(poster.get_by_text("Thank you, I will behave.")).to_be_visible()

        # Every step is in the public mod log, without the moderator's name by default.
        await poster.goto(f"{site.url}/b/modlog")
        await expect(poster.locator("table.modlog")).to_contain_text("Banned a poster")
        await expect(poster.locator("table.modlog")).not_to_contain_text("moderator")
        blocked = [e for e in poster_errors + staff_errors if "Content Security Policy" in e or "Refused" in e]
        assert not blocked, blocked
    finally:
        for context in (poster_ctx, reporter_ctx, staff_ctx):
            await context.close()


async def test_admin_signs_in_with_two_factors(site: RunningServer, browser: Browser) -> None:
    create_staff(site, "siteadmin", "admin")
    context = await new_context(browser, javascript=True)
    try:
        page = await context.new_page()
        # Before enrolling, the password alone gives no staff powers: the site asks for a factor.
        await sign_in_with_two_factors(page, site, "siteadmin")
        await expect(page.get_by_role("link", name="Site settings")).to_be_visible()
        await page.goto(site.url + "/account")
        await expect(page.locator(".account-facts")).to_contain_text("Administrator")
        await expect(page.locator(".account-facts")).to_contain_text("On")
        # A wrong code is refused on the next sign-in.
        await page.locator("form[action='/logout']").first.get_by_role("button", name="Sign out").click()
        await page.goto(site.url + "/login")
        await page.get_by_label("Username").fill("siteadmin")
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(site.url + "/login/code")
        await page.get_by_label("Code", exact=True).fill("000000")
        await page.get_by_role("button", name="Verify").click()
        await expect(page.get_by_text("That code is wrong or already used")).to_be_visible()
        response = await page.goto(site.url + "/staff")
        assert response is not None and response.status == 401
    finally:
        await context.close()


def _png(width: int, height: int, seed: int) -> bytes:
    import pyvips

    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0], xy[1]
    r = ((x * (360 / (150 + 20 * seed))).sin() * 90 + 128).cast("uchar")
    g = (((x + 2 * y) * (360 / (200 + 45 * seed))).cos() * 90 + 128).cast("uchar")
    b = ((y * (360 / (120 + 30 * seed))).sin() * 90 + 128).cast("uchar")
    return bytes(r.bandjoin([g, b]).copy(interpretation="srgb").write_to_buffer(".png"))


async def test_owner_uploads_a_banner_and_bans_a_file(site: RunningServer, browser: Browser) -> None:
    """An administrator makes a user the owner of /b/; the owner uploads a banner, which every
    visitor then sees at the top of the board, and bans a posted picture, which is refused
    when posted again. Staff and poster both without JavaScript."""
    create_staff(site, "siteowner", "admin")
    result = site.cli("create-user", "bowner", input_text=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    admin_ctx = await new_context(browser, javascript=False)
    owner_ctx = await new_context(browser, javascript=False)
    poster_ctx = await new_context(browser, javascript=False)
    try:
        admin = await admin_ctx.new_page()
        await sign_in_with_two_factors(admin, site, "siteowner")
        await admin.goto(site.url + "/staff/board/b")
        await admin.get_by_label("Username").fill("bowner")
        await admin.get_by_label("Role").select_option("owner")
        await admin.locator("form[action='/staff/board/b/staff']").get_by_role("button", name="Save").click()
        await expect(admin.locator(".staff-table")).to_contain_text("bowner")

        owner = await owner_ctx.new_page()
        errors = watch_console(owner)
        await owner.goto(site.url + "/login")
        await owner.get_by_label("Username").fill("bowner")
        await owner.get_by_label("Password").fill(PASSWORD)
        await owner.get_by_role("button", name="Sign in").click()
        await expect(owner).to_have_url(site.url + "/staff")
        await owner.goto(site.url + "/staff/board/b")
        # A banner of the wrong size is refused with a message saying what to do.
        await owner.get_by_label("Banner image").set_input_files(
            files=[FilePayload(name="wide.png", mimeType="image/png", buffer=_png(600, 100, 1))]
        )
        await owner.get_by_role("button", name="Upload banner").click()
        await expect(owner.get_by_text("A banner must be exactly 300×100 pixels")).to_be_visible()
        await owner.goto(site.url + "/staff/board/b")
        await owner.get_by_label("Banner image").set_input_files(
            files=[FilePayload(name="banner.png", mimeType="image/png", buffer=_png(300, 100, 2))]
        )
        await owner.get_by_role("button", name="Upload banner").click()
        await expect(owner).to_have_url(site.url + "/staff/board/b")  # back to the page it came from
        await expect(owner.locator(".banner-item img")).to_have_count(1)

        # Every visitor sees the banner at the top of the board (a real, loaded picture).
        poster = await poster_ctx.new_page()
        await poster.goto(site.url + "/b/")
        banner = poster.locator(".board-banner img")
        await expect(banner).to_have_attribute("src", "/b/banner")
        await poster.wait_for_function(
            "() => { const i = document.querySelector('.board-banner img');"
            " return i && i.complete && i.naturalWidth > 0 }"
        )
        assert await banner.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [300, 100]

        # The poster starts a thread with a picture; the owner bans that file from the post.
        picture = FilePayload(name="cat.png", mimeType="image/png", buffer=_png(320, 240, 3))
        await poster.get_by_label("Subject").fill("My picture")
        await poster.get_by_label("Comment").fill("Look at this")
        await poster.get_by_label("Files").set_input_files(files=[picture])
        await poster.get_by_role("button", name="New Thread").click()
        await expect(poster).to_have_url(re.compile(r"/b/thread/\d+#p\d+$"))
        op = int(re.search(r"/thread/(\d+)", poster.url).group(1))  # type: ignore[union-attr]
        await owner.goto(f"{site.url}/b/thread/{op}")
        await owner.locator(f"#p{op} .modmenu summary").click()
        await owner.locator(f"#p{op} .modmenu").get_by_role("link", name="Ban file").click()
        await expect(owner).to_have_url(f"{site.url}/staff/post/b/{op}#ban-file")
        form = owner.locator("#ban-file form")
        await form.get_by_label("Reason").fill("Not on this board, please.")
        await form.get_by_role("button", name="Ban file").click()
        await expect(owner).to_have_url(f"{site.url}/staff/post/b/{op}")

        # Posted again, the same picture is refused before anything is stored.
        await poster.goto(f"{site.url}/b/thread/{op}")
        await poster.get_by_label("Comment").fill("Again!")
        await poster.get_by_label("Files").set_input_files(files=[picture])
        await poster.get_by_role("button", name="Post Reply").click()
        await expect(poster.get_by_text("This file is banned on /b/")).to_be_visible()
        await expect(poster.get_by_text("Not on this board, please.")).to_be_visible()
        await poster.goto(f"{site.url}/b/thread/{op}")
        await expect(poster.get_by_text("Again!")).to_have_count(0)
        blocked = [e for e in errors if "Content Security Policy" in e or "Refused" in e]
        assert not blocked, blocked
    finally:
        for context in (admin_ctx, owner_ctx, poster_ctx):
            await context.close()

"""A person in a browser: start a thread, reply with a quote, see greentext and backlinks,
delete a post — with JavaScript on, and with it off."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from .conftest import RunningServer

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
async def test_create_thread_reply_quote_and_delete(server: RunningServer, browser: Browser, javascript: bool) -> None:
    context = await browser.new_context(java_script_enabled=javascript)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    try:
        await page.goto(server.url + "/")
        await page.locator("main a[href='/b/']").first.click()
        await expect(page).to_have_url(server.url + "/b/")

        subject = f"Browser thread {'js' if javascript else 'nojs'}"
        await page.get_by_label("Subject").fill(subject)
        await page.get_by_label("Comment").fill(f"Hello from Chromium ({subject})\n>this is greentext")
        await page.get_by_role("button", name="New Thread").click()
        await expect(page).to_have_url(re.compile(r"/b/thread/\d+#p\d+$"))
        op_no = int(re.search(r"/thread/(\d+)", page.url).group(1))  # type: ignore[union-attr]
        await expect(page.locator(f"#p{op_no} .comment .quote")).to_have_text(">this is greentext")

        await page.get_by_label("Comment").fill(f">>{op_no}\nI agree ({subject})")
        await page.get_by_role("button", name="Post Reply").click()
        await expect(page).to_have_url(re.compile(rf"/b/thread/{op_no}#p\d+$"))
        reply_no = int(page.url.rsplit("#p", 1)[1])
        reply = page.locator(f"#p{reply_no}")
        await expect(reply.locator(".comment a.quotelink")).to_have_attribute("href", f"#p{op_no}")
        await expect(page.locator(f"#p{op_no} .backlinks a")).to_have_text(f">>{reply_no}")

        # Delete the reply with the password the server remembered in a cookie.
        await page.locator(f"#p{reply_no} input[name=delete]").check()
        await page.locator("#delete-form").get_by_role("button", name="Delete").click()
        await expect(page.locator(f"#p{reply_no}")).to_have_count(0)
        await page.goto(f"{server.url}/b/thread/{op_no}")
        await expect(page.locator(f"#p{reply_no}")).to_have_count(0)
        await expect(page.locator(f"#p{op_no}")).to_be_visible()
        assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    finally:
        await context.close()


async def test_post_an_image_see_its_thumbnail_and_open_the_original(
    server: RunningServer, browser: Browser, tmp_path: Path
) -> None:
    import pyvips

    picture = tmp_path / "holiday photo.jpg"
    pyvips.Image.black(640, 480).draw_circle([200, 120, 40], 320, 240, 150, fill=True).write_to_file(str(picture))
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await page.goto(server.url + "/b/")
        await page.get_by_label("Comment").fill("a picture")
        await page.locator("input[name=upfile]").set_input_files(str(picture))
        await page.get_by_role("button", name="New Thread").click()
        await expect(page).to_have_url(re.compile(r"/b/thread/\d+#p\d+$"))
        thumb = page.locator("article.op .file-thumb img")
        await expect(thumb).to_be_visible()
        # Visible is not loaded: wait for the picture itself before measuring it.
        await thumb.evaluate("img => img.complete ? null : new Promise(done => img.addEventListener('load', done))")
        natural = await thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert natural == [250, 188], natural  # fits the opening post's 250×250 box
        link = await page.locator("article.op .file-thumb").get_attribute("href")
        assert link is not None and re.fullmatch(r"/media/b/\d+\.jpg", link)
        original = await page.request.get(server.url + link)
        assert original.status == 200 and original.headers["content-type"] == "image/jpeg"
        assert original.headers["x-content-type-options"] == "nosniff"
        assert "holiday%20photo.jpg" in original.headers["content-disposition"]
        opened = await context.new_page()
        await opened.goto(server.url + link)
        size = await opened.evaluate("() => [document.images[0].naturalWidth, document.images[0].naturalHeight]")
        assert size == [640, 480]
    finally:
        await context.close()

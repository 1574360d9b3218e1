"""A person in a browser: start a thread, reply with a quote, see greentext and backlinks,
delete a post — with JavaScript on, and with it off."""

from __future__ import annotations

import re

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
        await page.get_by_label("Comment").fill("Hello from Chromium\n>this is greentext")
        await page.get_by_role("button", name="New Thread").click()
        await expect(page).to_have_url(re.compile(r"/b/thread/\d+#p\d+$"))
        op_no = int(re.search(r"/thread/(\d+)", page.url).group(1))  # type: ignore[union-attr]
        await expect(page.locator(f"#p{op_no} .comment .quote")).to_have_text(">this is greentext")

        await page.get_by_label("Comment").fill(f">>{op_no}\nI agree")
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

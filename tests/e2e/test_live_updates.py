"""The site's scripts in a browser: live thread updates, (You) marks, posting without a
reload, quote previews, inline image expansion, hiding, the watcher and the settings panel.

The server keeps its anti-spam limits (3 threads per 15 minutes, 6 replies per minute per
address, no repeated comments): this module starts two threads and writes five replies, each
comment unique.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from .conftest import RunningServer

pytestmark = pytest.mark.browser

JSON = {"accept": "application/json"}


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:10]}"


def post_sync(server: RunningServer, comment: str, resto: int = 0, upload: Path | None = None) -> dict[str, object]:
    files = {"upfile": (upload.name, upload.read_bytes(), "image/jpeg")} if upload else {"upfile": ("", b"")}
    response = httpx.post(
        f"{server.url}/b/post", data={"com": comment, "resto": str(resto)}, files=files, headers=JSON, timeout=30
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def post(server: RunningServer, comment: str, resto: int) -> int:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        response = await client.post(
            "/b/post", data={"com": comment, "resto": str(resto)}, files={"upfile": ("", b"")}, headers=JSON
        )
    assert response.status_code == 201, response.text
    return int(response.json()["no"])


@dataclass
class Threads:
    text: int
    image: int


@pytest.fixture(scope="module")
def threads(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Threads:
    import pyvips

    picture = tmp_path_factory.mktemp("pictures") / "circle.jpg"
    pyvips.Image.black(640, 480).draw_circle([40, 200, 120], 320, 240, 150, fill=True).write_to_file(str(picture))
    text = post_sync(server, unique("A thread to watch live"))
    image = post_sync(server, unique("A thread with a picture"), upload=picture)
    return Threads(text=int(text["thread"]), image=int(image["thread"]))  # type: ignore[call-overload]


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    # A short window: posts added below the fold stay unread until scrolled to.
    context = await browser.new_context(viewport={"width": 1000, "height": 420})
    yield context
    await context.close()


async def open_page(context: BrowserContext, url: str, errors: list[str]) -> Page:
    page = await context.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type in ("error", "warning") else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(url)
    await page.evaluate("window.__sameDocument = true")
    return page


async def same_document(page: Page) -> bool:
    return bool(await page.evaluate("window.__sameDocument === true"))


def no_script_errors(errors: list[str]) -> None:
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e or "Error" in e], errors


async def test_a_reply_appears_live_and_counts_in_the_title(
    server: RunningServer, threads: Threads, context: BrowserContext
) -> None:
    errors: list[str] = []
    url = f"{server.url}/b/thread/{threads.text}"
    page = await open_page(context, url, errors)
    title = await page.title()
    await expect(page.locator(".live-status")).to_contain_text("Live updates on")
    await expect(page.locator(".live-unread")).to_be_hidden()
    # A second page whose event stream is refused (as when a client holds too many) falls
    # back to polling; its Update button fetches at once.
    polling = await context.new_page()
    await polling.route("**/events", lambda route: route.fulfill(status=503, body="busy"))
    await polling.goto(url)
    await expect(polling.locator(".live-status")).to_contain_text("Checking for new posts every 20 seconds")

    comment = unique("Hello from another browser")
    reply = await post(server, comment, threads.text)

    await expect(page.locator(f"#p{reply} .comment")).to_have_text(comment, timeout=10_000)
    await expect(page).to_have_title(f"(1) {title}")
    await expect(page.locator(".live-unread")).to_have_text("1 new post")
    await expect(page.locator(".thread-stats")).to_contain_text("Replies: 1")
    assert await same_document(page)

    await page.locator(f"#p{reply}").scroll_into_view_if_needed()
    await expect(page).to_have_title(title)

    await polling.locator(".live-status").get_by_role("button", name="Update").click()
    await expect(polling.locator(f"#p{reply} .comment")).to_have_text(comment)
    no_script_errors(errors)


async def test_posting_without_reload_and_you_marks(
    server: RunningServer, threads: Threads, context: BrowserContext
) -> None:
    errors: list[str] = []
    url = f"{server.url}/b/thread/{threads.text}"
    page = await open_page(context, url, errors)

    # An error from the server shows next to the form; nothing is reloaded.
    await page.get_by_label("Comment").fill("   ")
    await page.get_by_role("button", name="Post Reply").click()
    await expect(page.locator("#postform").get_by_role("alert")).to_contain_text("empty")
    assert page.url == url and await same_document(page)

    mine = unique("My own reply, sent by the script")
    await page.get_by_label("Comment").fill(mine)
    await page.get_by_role("button", name="Post Reply").click()
    own = page.locator("article.post-you")
    await expect(own).to_have_count(1, timeout=10_000)
    await expect(own.locator(".comment")).to_have_text(mine)
    await expect(page.get_by_label("Comment")).to_have_value("")
    await expect(page.locator(".postform-status")).to_be_hidden()
    own_no = int((await own.get_attribute("id") or "p0")[1:])
    assert page.url == f"{url}#p{own_no}" and await same_document(page)
    stored = await page.evaluate("JSON.parse(localStorage.getItem('ib.you'))")
    assert own_no in stored["b"], stored

    answer = await post(server, f">>{own_no}\n" + unique("Someone answers you"), threads.text)
    quote = page.locator(f"#p{answer} .comment a.quotelink")
    await expect(quote).to_have_class(re.compile(r"\bquotelink-you\b"), timeout=10_000)
    after = await quote.evaluate("a => getComputedStyle(a, '::after').content")
    assert "(You)" in after, after
    # The backlink on the quoted post came with the update too.
    await expect(page.locator(f"#p{own_no} .backlinks a")).to_have_text(f">>{answer}")
    # An answer to one's own post is not one's own post.
    await expect(page.locator(f"#p{answer}")).not_to_have_class(re.compile(r"\bpost-you\b"))

    # Hovering the quote previews the quoted post (it is on the page: copied, and highlighted).
    await quote.hover()
    preview = page.locator(".quote-preview")
    await expect(preview).to_contain_text(mine)
    await expect(page.locator(f"#p{own_no}")).to_have_class(re.compile(r"\bpost-quoted\b"))
    assert await preview.locator("input, [id]").count() == 0
    await page.mouse.move(0, 0)
    await expect(preview).to_have_count(0)
    no_script_errors(errors)


async def test_quote_preview_fetches_a_post_from_another_thread(
    server: RunningServer, threads: Threads, context: BrowserContext
) -> None:
    errors: list[str] = []
    elsewhere = unique("Said in the other thread")
    quoted = await post(server, elsewhere, threads.text)
    await post(server, f">>{quoted}\n" + unique("Look at this"), threads.image)
    page = await open_page(context, f"{server.url}/b/thread/{threads.image}", errors)
    link = page.locator(f".comment a.quotelink[href='/b/thread/{threads.text}#p{quoted}']")
    await link.hover()
    preview = page.locator(".quote-preview")
    await expect(preview.locator("article.post .comment")).to_have_text(elsewhere)
    await page.mouse.move(0, 0)
    await expect(preview).to_have_count(0)
    no_script_errors(errors)


async def test_images_expand_in_place(server: RunningServer, threads: Threads, context: BrowserContext) -> None:
    errors: list[str] = []
    page = await open_page(context, f"{server.url}/b/thread/{threads.image}", errors)
    figure = page.locator("article.op figure.file")
    thumb = figure.locator(".file-thumb img:not(.file-expanded)")
    await expect(thumb).to_be_visible()
    await figure.locator(".file-thumb").click()
    full = figure.locator("img.file-expanded")
    await expect(full).to_be_visible()
    await expect(thumb).to_be_hidden()
    assert await full.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [640, 480]
    assert len(context.pages) == 1 and await same_document(page)  # no new tab, no navigation

    await full.click()
    await expect(full).to_have_count(0)
    await expect(thumb).to_be_visible()
    no_script_errors(errors)


async def test_hiding_watching_and_settings(server: RunningServer, threads: Threads, context: BrowserContext) -> None:
    errors: list[str] = []
    page = await open_page(context, f"{server.url}/b/", errors)

    # Hide a thread on the index: only its opening post's header stays; it stays hidden.
    thread = page.locator(f"#t{threads.text}")
    await thread.locator("article.op .hide-toggle").click()
    await expect(thread.locator("article.op .comment")).to_be_hidden()
    await expect(thread.locator(".replies")).to_be_hidden()
    await page.reload()
    await expect(thread.locator("article.op .comment")).to_be_hidden()
    await thread.locator("article.op .hide-toggle").click()
    await expect(thread.locator("article.op .comment")).to_be_visible()

    # Watch a thread; the header's panel lists it.
    await page.locator(f"#t{threads.image} article.op").get_by_role("button", name="Watch thread").click()
    await expect(page.locator(f"#t{threads.image} article.op .watch-toggle")).to_have_text("Stop watching")
    opener = page.locator(".site-header").get_by_role("button", name=re.compile("^Watched threads"))
    await opener.click()
    panel = page.locator("#watcher-panel")
    await expect(panel.locator(f"a[href='/b/thread/{threads.image}']")).to_contain_text("A thread with a picture")
    # Checking counts the posts after the last one read (here: pretend none was read).
    await page.evaluate(
        """key => {
            const all = JSON.parse(localStorage.getItem('ib.watched'));
            all[key].seen = 0;
            localStorage.setItem('ib.watched', JSON.stringify(all));
        }""",
        f"b/{threads.image}",
    )
    await panel.get_by_role("button", name="Update").click()
    await expect(panel.locator(".watcher-unread")).to_have_text(re.compile(r"^\d+ new$"))
    await expect(opener).to_have_text(re.compile(r"^Watched threads \([1-9]\d*\)$"))

    # Relative times by default, the absolute time in the tooltip; the settings panel turns
    # them off at once.
    time = page.locator(f"#p{threads.image} .post-header time").first
    absolute = await time.get_attribute("data-absolute")
    assert absolute and re.fullmatch(r"\d\d/\d\d/\d\d\(\w+\)\d\d:\d\d(:\d\d)?", absolute), absolute
    await expect(time).to_have_attribute("title", absolute)
    await expect(time).not_to_have_text(absolute)
    await page.locator(".site-header").get_by_role("button", name="Script settings").click()
    dialog = page.get_by_role("dialog", name="Script settings")
    await dialog.get_by_label("Show times as").uncheck()
    await expect(time).to_have_text(absolute)
    await dialog.get_by_role("button", name="Close").click()
    await expect(dialog).to_be_hidden()
    assert await page.evaluate("JSON.parse(localStorage.getItem('ib.settings')).relativeTimes") is False
    no_script_errors(errors)

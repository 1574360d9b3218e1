"""RSS 2.0 and Atom feeds per board and per thread: well-formed whatever the posts say."""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from imageboard.api.feeds import Enclosure, Feed, FeedItem, atom_xml, rss_xml

from .conftest import Site

ATOM = "{http://www.w3.org/2005/Atom}"


def parse(document: bytes) -> ET.Element:
    """Parse a feed we made ourselves (the input is our output, not a stranger's XML)."""
    return ET.fromstring(document)  # noqa: S314


HOSTILE = "]]></title><script>alert('x')</script>&amp; \x01\x0b\x1f \"quoted\" 'single' <![CDATA[ ü 🎉"


async def test_board_rss_lists_new_threads(site: Site) -> None:
    first = await site.post(subject=HOSTILE, comment=HOSTILE, name=HOSTILE)
    second = await site.post(comment="Second thread >>1\n>green")
    response = await site.client.get("/b/index.rss")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/rss+xml; charset=utf-8"
    root = parse(response.content)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel is not None
    assert channel.findtext("title") == "/b/ - Random - Imageboard"
    assert channel.findtext("link") == "http://testserver/b/"
    assert channel.find(f"{ATOM}link").get("href") == "http://testserver/b/index.rss"  # type: ignore[union-attr]
    items = channel.findall("item")
    assert [i.findtext("link") for i in items] == [
        f"http://testserver/b/thread/{second}", f"http://testserver/b/thread/{first}",
    ]
    hostile = items[1]
    clean = HOSTILE.replace("\x01", "").replace("\x0b", "").replace("\x1f", "")
    assert hostile.findtext("title") == clean  # text survives, minus what XML cannot carry
    assert "<script>" not in (hostile.findtext("description") or "")  # the comment HTML escapes it
    assert "&lt;script&gt;" in (hostile.findtext("description") or "")
    assert hostile.findtext("guid") == f"http://testserver/b/thread/{first}"
    assert hostile.findtext("pubDate") == "Mon, 05 Jan 2026 17:30:16 GMT"


async def test_board_atom(site: Site) -> None:
    op = await site.post(subject="Atom thread", comment=HOSTILE)
    response = await site.client.get("/b/index.atom")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
    root = parse(response.content)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}id") == "http://testserver/b/index.atom"
    assert root.findtext(f"{ATOM}updated") == "2026-01-05T17:30:16Z"
    entry = root.find(f"{ATOM}entry")
    assert entry is not None
    assert entry.findtext(f"{ATOM}title") == "Atom thread"
    assert entry.findtext(f"{ATOM}id") == f"http://testserver/b/thread/{op}"
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "Anonymous"
    content = entry.find(f"{ATOM}content")
    assert content is not None and content.get("type") == "html"
    assert "&lt;script&gt;" in (content.text or "")


async def test_thread_feeds_list_posts_newest_first(site: Site) -> None:
    op = await site.post(subject="Followed", comment="start")
    replies = [await site.post(thread=op, comment=f"reply {n} {HOSTILE}", name="x#trip") for n in range(3)]
    rss = parse((await site.client.get(f"/b/thread/{op}.rss")).content)
    links = [i.findtext("link") for i in rss.iter("item")]
    assert links == [f"http://testserver/b/thread/{op}#p{n}" for n in [*reversed(replies), op]]
    atom = parse((await site.client.get(f"/b/thread/{op}.atom")).content)
    entries = atom.findall(f"{ATOM}entry")
    assert len(entries) == 4
    assert entries[0].findtext(f"{ATOM}author/{ATOM}name", "").startswith("x!")
    assert entries[0].findtext(f"{ATOM}title", "").startswith(f"No.{replies[-1]}: reply 2")
    assert (await site.client.get("/b/thread/999.rss")).status_code == 404
    assert (await site.client.get("/nope/index.atom")).status_code == 404


async def test_public_url_is_used_for_links(site: Site) -> None:
    from imageboard.api import build_fourchan_router

    router = build_fourchan_router(
        site.boards, media_base_url="/media", site_name="Board", public_url="https://board.example/"
    )
    site.app.router.routes[0:0] = router.routes
    await site.post(comment="x")
    root = parse((await site.client.get("/b/index.rss")).content)
    assert root.findtext("channel/link") == "https://board.example/b/"


def test_feed_builders_drop_what_xml_cannot_hold() -> None:
    moment = datetime(2026, 1, 5, tzinfo=UTC)
    item = FeedItem(
        url="https://x.example/b/thread/1?a=1&b=2",
        title="lone surrogate \ud800 and NUL \x00 and form feed \x0c",
        author="\ufffe\uffff",
        published=moment,
        updated=moment,
        content_html="<b>ok</b>",
        enclosures=[Enclosure("https://x.example/b/1.png?\"'<>", 10, "image/png")],
    )
    feed = Feed("t", "", "https://x.example/b/", "https://x.example/b/index.rss", moment, [item])
    for document in (rss_xml(feed), atom_xml(feed)):
        root = parse(document)
        text = ET.tostring(root, encoding="unicode")
        assert "\x00" not in text and "\ud800" not in text
    rss = parse(rss_xml(feed))
    assert rss.findtext("channel/item/title") == "lone surrogate  and NUL  and form feed "
    assert rss.find("channel/item/enclosure").get("url") == "https://x.example/b/1.png?\"'<>"  # type: ignore[union-attr]

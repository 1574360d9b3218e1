"""RSS 2.0 and Atom feeds: new threads of a board, new posts of a thread.

``/{board}/index.rss``, ``/{board}/index.atom``, ``/{board}/thread/{no}.rss`` and
``/{board}/thread/{no}.atom``. Documents are built with ``xml.etree`` (which escapes text and
attributes); characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates) are
dropped first, so hostile post text can never make a feed malformed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from urllib.parse import urljoin
from xml.etree import ElementTree as ET

from fastapi import APIRouter, Request
from starlette.responses import Response

from imageboard.api.common import READ, base_url, check_board, check_post_no, read
from imageboard.api.http_cache import newest
from imageboard.boards import BoardsService, PostView, comment_excerpt
from imageboard.core.clock import as_utc
from imageboard.media import FileView

ATOM_NS = "http://www.w3.org/2005/Atom"
RSS_TYPE = "application/rss+xml; charset=utf-8"
ATOM_TYPE = "application/atom+xml; charset=utf-8"
BOARD_FEED_SIZE = 30
THREAD_FEED_SIZE = 50
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

ET.register_namespace("atom", ATOM_NS)


def xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


@dataclass(frozen=True, slots=True)
class Enclosure:
    url: str
    length: int
    mime: str


@dataclass(slots=True)
class FeedItem:
    url: str
    title: str
    author: str
    published: datetime
    updated: datetime
    content_html: str
    enclosures: list[Enclosure] = field(default_factory=list)


@dataclass(slots=True)
class Feed:
    title: str
    description: str
    page_url: str  # the HTML page the feed follows
    self_url: str
    updated: datetime
    items: list[FeedItem]


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, {k: xml_text(v) for k, v in attributes.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def _rfc822(moment: datetime) -> str:
    return format_datetime(as_utc(moment).replace(microsecond=0), usegmt=True)


def _rfc3339(moment: datetime) -> str:
    return as_utc(moment).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _serialise(root: ET.Element) -> bytes:
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def rss_xml(feed: Feed) -> bytes:
    root = ET.Element("rss", {"version": "2.0"})
    channel = _sub(root, "channel")
    _sub(channel, "title", feed.title)
    _sub(channel, "link", feed.page_url)
    _sub(channel, "description", feed.description or feed.title)
    _sub(channel, f"{{{ATOM_NS}}}link", href=feed.self_url, rel="self", type="application/rss+xml")
    _sub(channel, "lastBuildDate", _rfc822(feed.updated))
    for entry in feed.items:
        item = _sub(channel, "item")
        _sub(item, "title", entry.title)
        _sub(item, "link", entry.url)
        _sub(item, "guid", entry.url, isPermaLink="true")
        _sub(item, "pubDate", _rfc822(entry.published))
        _sub(item, "description", entry.content_html)
        for enclosure in entry.enclosures[:1]:  # RSS allows one per item
            _sub(item, "enclosure", url=enclosure.url, length=str(enclosure.length), type=enclosure.mime)
    return _serialise(root)


def atom_xml(feed: Feed) -> bytes:
    # Unprefixed names under a default namespace declared on the root, as feed readers expect.
    root = ET.Element("feed", {"xmlns": ATOM_NS})
    _sub(root, "id", feed.self_url)
    _sub(root, "title", feed.title)
    _sub(root, "subtitle", feed.description or feed.title)
    _sub(root, "updated", _rfc3339(feed.updated))
    _sub(root, "link", rel="self", type="application/atom+xml", href=feed.self_url)
    _sub(root, "link", rel="alternate", type="text/html", href=feed.page_url)
    for item in feed.items:
        entry = _sub(root, "entry")
        _sub(entry, "id", item.url)
        _sub(entry, "title", item.title)
        _sub(entry, "published", _rfc3339(item.published))
        _sub(entry, "updated", _rfc3339(item.updated))
        _sub(entry, "link", rel="alternate", type="text/html", href=item.url)
        for enclosure in item.enclosures:
            _sub(entry, "link", rel="enclosure", href=enclosure.url, length=str(enclosure.length), type=enclosure.mime)
        author = _sub(entry, "author")
        _sub(author, "name", item.author)
        _sub(entry, "content", item.content_html, type="html")
    return _serialise(root)


def _absolute(site: str, url: str) -> str:
    return urljoin(f"{site}/", url)


def _file_url(site: str, media_base_url: str, board: str, file: FileView, *, thumb: bool) -> str:
    url = file.thumb_url if thumb else file.url
    if not url:
        url = f"{media_base_url.rstrip('/')}/{board}/{file.tim}{'s.jpg' if thumb else file.ext}"
    return _absolute(site, url)


def _post_html(site: str, media_base_url: str, post: PostView) -> str:
    """The post's comment HTML (links made absolute by the reader against the item link),
    after a thumbnail of each visible file."""
    parts = []
    for file in post.files:
        if file.deleted:
            parts.append("<p>[file deleted]</p>")
        elif file.spoiler:
            parts.append(f"<p>[spoiler: {html.escape(file.filename + file.ext)}]</p>")
        else:
            thumb = html.escape(_file_url(site, media_base_url, post.board, file, thumb=True))
            full = html.escape(_file_url(site, media_base_url, post.board, file, thumb=False))
            parts.append(f'<p><a href="{full}"><img src="{thumb}" alt="{html.escape(file.filename)}"></a></p>')
    return "".join(parts) + post.comment_html


def _item(site: str, media_base_url: str, post: PostView, url: str, title: str) -> FeedItem:
    enclosures = [
        Enclosure(_file_url(site, media_base_url, post.board, f, thumb=False), f.size, f.mime)
        for f in post.files
        if not f.deleted
    ]
    return FeedItem(
        url=url,
        title=title,
        author=post.name + (post.tripcode or ""),
        published=post.created_at,
        updated=post.edited_at or post.created_at,
        content_html=_post_html(site, media_base_url, post),
        enclosures=enclosures,
    )


def _title(post: PostView) -> str:
    return post.subject or comment_excerpt(post.comment, 80) or f"No.{post.no}"


def add_feed_routes(
    router: APIRouter, boards: BoardsService, *, site_name: str, public_url: str, media_base_url: str
) -> None:
    async def board_feed(request: Request, board: str, kind: str) -> tuple[Feed, datetime]:
        check_board(board)
        view, entries = await boards.catalog(board, "created")
        site = base_url(request, public_url)
        newest_first = sorted(entries, key=lambda e: e.state.no, reverse=True)[:BOARD_FEED_SIZE]
        items = [
            _item(site, media_base_url, e.op, f"{site}/{board}/thread/{e.state.no}", _title(e.op))
            for e in newest_first
        ]
        modified = newest([view.updated_at, *(e.state.updated_at for e in entries)])
        feed = Feed(
            title=f"/{board}/ - {view.title} - {site_name}",
            description=view.description,
            page_url=f"{site}/{board}/",
            self_url=f"{site}/{board}/index.{kind}",
            updated=modified,
            items=items,
        )
        return feed, modified

    async def thread_feed(request: Request, board: str, no: int, kind: str) -> tuple[Feed, datetime]:
        check_board(board)
        check_post_no(no)
        view = await boards.thread(board, no)
        site = base_url(request, public_url)
        page = f"{site}/{board}/thread/{no}"
        posts: Sequence[PostView] = list(reversed(view.posts))[:THREAD_FEED_SIZE]
        items = [_item(site, media_base_url, p, f"{page}#p{p.no}", f"No.{p.no}: {_title(p)}") for p in posts]
        modified = newest([view.state.updated_at, *(p.edited_at for p in view.posts)])
        feed = Feed(
            title=f"/{board}/ - {_title(view.op)} - {site_name}",
            description=comment_excerpt(view.op.comment, 300),
            page_url=page,
            self_url=f"{page}.{kind}",
            updated=modified,
            items=items,
        )
        return feed, modified

    @router.api_route("/{board}/index.rss", methods=READ)
    async def board_rss(request: Request, board: str) -> Response:
        async def build() -> tuple[bytes, datetime]:
            feed, modified = await board_feed(request, board, "rss")
            return rss_xml(feed), modified

        return await read(request, build, media_type=RSS_TYPE)

    @router.api_route("/{board}/index.atom", methods=READ)
    async def board_atom(request: Request, board: str) -> Response:
        async def build() -> tuple[bytes, datetime]:
            feed, modified = await board_feed(request, board, "atom")
            return atom_xml(feed), modified

        return await read(request, build, media_type=ATOM_TYPE)

    @router.api_route("/{board}/thread/{no:int}.rss", methods=READ)
    async def thread_rss(request: Request, board: str, no: int) -> Response:
        async def build() -> tuple[bytes, datetime]:
            feed, modified = await thread_feed(request, board, no, "rss")
            return rss_xml(feed), modified

        return await read(request, build, media_type=RSS_TYPE)

    @router.api_route("/{board}/thread/{no:int}.atom", methods=READ)
    async def thread_atom(request: Request, board: str, no: int) -> Response:
        async def build() -> tuple[bytes, datetime]:
            feed, modified = await thread_feed(request, board, no, "atom")
            return atom_xml(feed), modified

        return await read(request, build, media_type=ATOM_TYPE)

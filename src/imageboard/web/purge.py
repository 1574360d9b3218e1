"""What a write changes at the edge: the one place that maps a domain event to the URLs and
surrogate keys of the documents it makes stale, and a request path to the keys its response
carries (``Surrogate-Key`` / ``Cache-Tag``).

Pure functions, no I/O: the edge adapters (``web.edge``) send what these return.

Surrogate keys (space-separated in the header, as Fastly, Varnish's xkey and the VCL in
deploy/varnish read them; comma-separated in ``Cache-Tag`` for Cloudflare-style CDNs):

==================  ===================================================================
``site``            every document (an operator's "purge everything")
``home``            the front page (board activity)
``boards``          board lists: ``/boards.json``, ``/api/v1/boards``
``overboard``       ``/all/``, ``/sfw/`` and ``/api/v1/overboard``
``b:<uri>``         every document of one board (its settings changed)
``b:<uri>:index``   the board's index pages, catalog, thread list, their JSON and feeds
``b:<uri>:archive`` the board's archive pages
``t:<uri>:<no>``    one thread in every form: HTML (any slug), JSON, feeds, API
``search``          search results
==================  ===================================================================

URLs are the forms the site itself links to (and its documented APIs), for edges that can
only drop what they are told by URL (the NGINX refresh). Thread pages with any slug share
one entry in the shipped NGINX config, so the bare ``/<uri>/thread/<no>`` stands for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from imageboard.events import (
    BanCreated,
    BoardUpdated,
    Event,
    FileDeleted,
    FileProcessed,
    PostCreated,
    PostDeleted,
    PostUpdated,
    ReportCreated,
    ThreadArchived,
    ThreadPruned,
    ThreadUpdated,
)

SITE = "site"
HOME = "home"
BOARDS = "boards"
OVERBOARD = "overboard"
SEARCH = "search"
API = "/api/v1"
DEFAULT_PAGES = 10
# Overboard pages linked from one another (?page=N); deeper ones age out at the edge.
OVERBOARD_PAGES = 5
CATALOG_SORTS = ("bump", "created", "replies")

_BOARD = r"(?P<b>[a-z0-9]{1,32})"
_NO = r"(?P<no>[0-9]{1,16})"
# (pattern, keys as templates) in order; the first match wins.
_PATH_KEYS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = tuple(
    (re.compile(pattern), keys)
    for pattern, keys in (
        (r"/", (HOME,)),
        (r"/(all|sfw)/", (OVERBOARD,)),
        (r"/boards\.json", (BOARDS,)),
        (r"/search", (SEARCH,)),
        (rf"{API}/boards", (BOARDS,)),
        (rf"{API}/overboard", (OVERBOARD,)),
        (rf"{API}/search", (SEARCH,)),
        (rf"{API}/boards/{_BOARD}(/catalog)?", ("b:{b}", "b:{b}:index")),
        (rf"{API}/boards/{_BOARD}/archive", ("b:{b}", "b:{b}:archive")),
        (rf"{API}/boards/{_BOARD}/threads/{_NO}(/posts)?", ("b:{b}", "t:{b}:{no}")),
        (rf"/{_BOARD}/thread/{_NO}(\.json|\.rss|\.atom|/[^/]*)?", ("b:{b}", "t:{b}:{no}")),
        (rf"/{_BOARD}/(archive|archive\.json)", ("b:{b}", "b:{b}:archive")),
        (
            rf"/{_BOARD}/([0-9]{{1,4}}|[0-9]{{1,4}}\.json|catalog|catalog\.json|threads\.json|index\.rss|index\.atom)?",
            ("b:{b}", "b:{b}:index"),
        ),
    )
)


# Events that change a thread and so the lists showing it (a ban marks the post it was for).
_THREAD_EVENTS = (
    PostCreated,
    PostDeleted,
    PostUpdated,
    FileDeleted,
    FileProcessed,
    ThreadUpdated,
    ThreadArchived,
    ThreadPruned,
    BanCreated,
)


@dataclass(frozen=True, slots=True)
class PurgeTargets:
    """What to drop from the edge caches: site paths (with their query) and surrogate keys."""

    urls: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.urls or self.keys)


@dataclass(slots=True)
class _Collect:
    urls: dict[str, None] = field(default_factory=dict)
    keys: dict[str, None] = field(default_factory=dict)

    def add(self, urls: list[str], *keys: str) -> None:
        self.urls.update(dict.fromkeys(urls))
        self.keys.update(dict.fromkeys(keys))

    def result(self) -> PurgeTargets:
        return PurgeTargets(tuple(self.urls), tuple(self.keys))


def surrogate_keys(path: str) -> tuple[str, ...]:
    """The keys of the document at ``path`` (no query string), ``site`` first."""
    for pattern, keys in _PATH_KEYS:
        found = pattern.fullmatch(path)
        if found is not None:
            return (SITE, *(key.format(**found.groupdict()) for key in keys))
    return (SITE,)


def edge_key_headers(path: str) -> dict[str, str]:
    """``Surrogate-Key`` (space-separated: Fastly, Varnish) and ``Cache-Tag`` (comma-separated:
    Cloudflare, Akamai) for the document at ``path``."""
    keys = surrogate_keys(path)
    return {"Surrogate-Key": " ".join(keys), "Cache-Tag": ",".join(keys)}


def thread_urls(board: str, no: int) -> list[str]:
    base = f"/{board}/thread/{no}"
    api = f"{API}/boards/{board}/threads/{no}"
    return [base, f"{base}.json", f"{base}.rss", f"{base}.atom", api, f"{api}/posts"]


def index_urls(board: str, pages: int = DEFAULT_PAGES) -> list[str]:
    base = f"/{board}/"
    catalog = f"{API}/boards/{board}/catalog"
    return [
        base,
        *(f"{base}{n}" for n in range(1, pages + 1)),
        f"{base}catalog",
        *(f"{base}catalog?sort={sort}" for sort in CATALOG_SORTS),
        f"{base}catalog.json",
        f"{base}threads.json",
        *(f"{base}{n}.json" for n in range(1, pages + 1)),
        f"{base}index.rss",
        f"{base}index.atom",
        f"{API}/boards/{board}",
        catalog,
        *(f"{catalog}?sort={sort}" for sort in CATALOG_SORTS),
    ]


def archive_urls(board: str) -> list[str]:
    return [f"/{board}/archive", f"/{board}/archive.json", f"{API}/boards/{board}/archive"]


def overboard_urls() -> list[str]:
    urls = []
    for base in ("/all/", "/sfw/"):
        urls += [base, *(f"{base}?page={n}" for n in range(1, OVERBOARD_PAGES + 1))]
    return [*urls, f"{API}/overboard", f"{API}/overboard?work_safe_only=true"]


def purge_targets(event: Event, *, pages: int = DEFAULT_PAGES) -> PurgeTargets:
    """The documents ``event`` made stale. ``pages`` is the board's number of index pages (a
    bump moves a thread from any of them to the first)."""
    board = event.board
    found = _Collect()
    if isinstance(event, ReportCreated) or board is None:
        return found.result()  # reports change no public page; site-wide bans mark no post
    if isinstance(event, BoardUpdated):
        return board_targets(board, pages=pages)
    thread_no = getattr(event, "thread_no", None)
    if isinstance(event, BanCreated) and thread_no is None:
        return found.result()  # a ban not issued for a post shows nowhere public
    if isinstance(event, _THREAD_EVENTS) and thread_no is not None:
        found.add(thread_urls(board, thread_no), f"t:{board}:{thread_no}")
        found.add(index_urls(board, pages), f"b:{board}:index")
        found.add(overboard_urls(), OVERBOARD)
    if isinstance(event, PostCreated | PostDeleted | ThreadArchived | ThreadPruned):
        found.add(["/"], HOME)  # the front page counts a board's recent posts and threads
    if isinstance(event, ThreadArchived | ThreadPruned) or (isinstance(event, PostDeleted) and event.is_op):
        found.add(archive_urls(board), f"b:{board}:archive")
    if isinstance(event, PostCreated | PostDeleted | PostUpdated):
        found.add([], SEARCH)  # results show the post's text (an edit changes it)
    return found.result()


def board_targets(board: str, *, pages: int = DEFAULT_PAGES) -> PurgeTargets:
    """A board's settings changed (name, rules, limits): every document of the board. Its
    thread pages are reached by key only; an edge without keys keeps them until they expire."""
    found = _Collect()
    found.add(["/", "/boards.json", f"{API}/boards"], HOME, BOARDS, f"b:{board}")
    found.add(index_urls(board, pages))
    found.add(archive_urls(board))
    found.add(overboard_urls(), OVERBOARD)
    return found.result()

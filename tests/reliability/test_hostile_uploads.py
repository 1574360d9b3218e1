"""Hostile files posted over HTTP to a running server, through the post form and the JSON API.

Each must get a clear 4xx naming the file field; afterwards the board's last post number,
the attachment rows, the media directory and the scratch directory are exactly as before;
the server still serves pages; and its memory stays bounded (checked last). ffmpeg must not
follow playlists or data references: a loopback canary counts every connection attempt.

Files whose only fault is their *name* or their *metadata* are not refused: the name is
shown sanitised and the metadata is removed. Those tests prove the sanitising instead: no
directory part, control or bidi character in the shown name, nothing written outside the
content-addressed media keys, no EXIF in the stored copy.

The media unit tests (tests/unit/media/) check each refusal of the processing functions;
this module checks the whole path: multipart parsing, spooling, processing, storage, the
posting transaction and the error pages, in the real server process.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from imageboard.api.fourchan_schemas import escape
from tests import media_samples as samples
from tests.reliability import hostile_files as hostile
from tests.reliability.conftest import Figures
from tests.reliability.services import JSON, Site, files_under, memory_kib, sqlite_rows

# Memory the server may grow by over the whole module (every hostile file, both routes).
RSS_GROWTH_LIMIT_MB = 200
# Peak resident memory of the server process at any moment (libvips and the spooled upload).
PEAK_RSS_LIMIT_MB = 450
MEDIA_KEY = re.compile(r"^(src/[0-9a-f]{2}/[0-9a-f]{64}\.[a-z0-9]+|thumb/[0-9a-f]{2}/[0-9a-f]{64}-\d+\.jpg)$")


@dataclass
class Context:
    workdir: Path
    canary: hostile.Canary


@dataclass(frozen=True)
class Case:
    id: str
    build: Callable[[Context], bytes]
    filename: str
    statuses: frozenset[int]
    says: str  # a fragment the message must contain (case-insensitive)


def case(id: str, build: Callable[[Context], bytes], filename: str, statuses: set[int], says: str) -> Case:
    return Case(id, build, filename, frozenset(statuses), says)


TOO_LARGE = {413}
DAMAGED = {400}
REFUSED_TYPE = {415}

CASES = [
    # Decompression bombs: headers that lie, and a real one that tells the truth.
    case("png-bomb-100000x100000", lambda _: samples.png_bomb(), "cat.png", TOO_LARGE, "too large"),
    case("jpeg-bomb-65000x65000", lambda _: samples.jpeg_bomb(), "cat.jpg", TOO_LARGE, "too large"),
    case("gif-bomb-65535x65535", lambda _: samples.gif_bomb(), "cat.gif", TOO_LARGE, "too large"),
    case("webp-bomb-100000x100000", lambda _: samples.webp_bomb(), "cat.webp", TOO_LARGE, "too large"),
    case("png-real-9000x9000-black", lambda _: hostile.big_black_png(9000, 9000), "sky.png", TOO_LARGE, "pixels"),
    case("gif-1200-frames", lambda _: samples.gif_bytes(8, 8, frames=1200), "loop.gif", TOO_LARGE, "frames"),
    # Truncated and corrupt files.
    case("empty", lambda _: b"", "nothing.png", DAMAGED, "empty"),
    case("jpeg-truncated", lambda _: hostile.truncated(samples.jpeg_bytes(320, 240)), "a.jpg", DAMAGED, "damaged"),
    case("png-truncated", lambda _: hostile.truncated(samples.png_bytes(320, 240)), "a.png", DAMAGED, "damaged"),
    case("gif-truncated", lambda _: hostile.truncated(samples.gif_bytes(320, 240)), "a.gif", DAMAGED, "damaged"),
    case("webp-truncated", lambda _: hostile.truncated(samples.webp_bytes(320, 240)), "a.webp", DAMAGED, "damaged"),
    case("jpeg-corrupt-scan", lambda _: hostile.corrupt_middle(samples.jpeg_bytes(320, 240)), "a.jpg", DAMAGED,
         "damaged"),
    case("png-bad-crc", lambda _: hostile.png_with_bad_crc(), "a.png", DAMAGED, "damaged"),
    case("webm-truncated", lambda c: hostile.truncated_webm(c.workdir), "clip.webm", DAMAGED, "damaged"),
    # Polyglots.
    case("gif+javascript", lambda _: samples.gif_bytes(320, 240) + samples.JS_PAYLOAD, "a.gif", REFUSED_TYPE, "hidden"),
    case("jpeg+html", lambda _: samples.jpeg_bytes(320, 240) + samples.HTML_PAYLOAD, "a.jpg", REFUSED_TYPE, "hidden"),
    case("png+zip", lambda _: samples.png_bytes(64, 64) + samples.zip_archive(), "a.png", REFUSED_TYPE, "hidden"),
    case("gif-header-is-javascript", lambda _: hostile.gif_with_leading_script(), "a.gif", {400, 415}, "file"),
    case("jpeg-html-comment", lambda _: hostile.jpeg_with_html_comment(), "a.jpg", REFUSED_TYPE, "HTML or script"),
    # Other things dressed as images.
    case("svg-with-script", lambda _: hostile.SVG_WITH_SCRIPT, "vector.png", REFUSED_TYPE, "SVG"),
    case("html-renamed-jpg", lambda _: samples.HTML_PAYLOAD, "photo.jpg", REFUSED_TYPE, "HTML"),
    case("zip-renamed-png", lambda _: samples.zip_archive(), "photo.png", REFUSED_TYPE, "ZIP"),
    # Playlists, raw and wrapped in video containers: ffmpeg must not follow them.
    case("hls-as-mp4", lambda c: hostile.hls_playlist(c.canary.url), "clip.mp4", REFUSED_TYPE, "playlist"),
    case("ffconcat-as-webm", lambda c: hostile.concat_script(c.canary.url), "clip.webm", REFUSED_TYPE, "playlist"),
    case("mp4-box-then-hls", lambda c: hostile.mp4_wrapping_playlist(c.canary.url), "clip.mp4", DAMAGED,
         "damaged"),
    case("ebml-then-concat", lambda c: hostile.matroska_wrapping_playlist(c.canary.url), "clip.webm", DAMAGED,
         "damaged"),
    case("mp4-external-dref", lambda c: hostile.mp4_with_external_data(c.workdir, c.canary.url), "clip.mp4",
         DAMAGED, "damaged"),
    # A hostile name on hostile content: refused for the content, the name changes nothing.
    case("traversal-name-on-html", lambda _: samples.HTML_PAYLOAD, "../../../../etc/cron.d/x.jpg", REFUSED_TYPE,
         "HTML"),
]  # fmt: skip


@pytest.fixture(scope="module")
def context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Context]:
    canary = hostile.Canary()
    yield Context(tmp_path_factory.mktemp("hostile"), canary)
    canary.close()


@dataclass(frozen=True)
class Snapshot:
    last_post_no: int
    attachments: int
    blobs: int
    media: frozenset[str]
    scratch: frozenset[str]


def snapshot(site: Site) -> Snapshot:
    board = httpx.get(site.url + "/api/v1/boards/b", timeout=30).json()
    return Snapshot(
        last_post_no=board["last_post_no"],
        attachments=sqlite_rows(site.data_dir, "SELECT count(*) FROM attachments")[0][0],
        blobs=sqlite_rows(site.data_dir, "SELECT count(*) FROM media_blobs")[0][0],
        media=frozenset(files_under(site.data_dir / "media")),
        scratch=frozenset(files_under(site.data_dir / "tmp")),
    )


def send(
    site: Site, route: str, filename: str, data: bytes, content_type: str = "application/octet-stream"
) -> httpx.Response:
    if route == "form":
        return httpx.post(
            site.url + "/b/post",
            data={"com": "hostile upload", "sub": "test"},
            files={"upfile": (filename, data, content_type)},
            headers=JSON,
            timeout=120,
        )
    return httpx.post(
        site.url + "/api/v1/boards/b/threads",
        data={"comment": "hostile upload", "subject": "test"},
        files={"files": (filename, data, content_type)},
        timeout=120,
    )


class Peak:
    """Resident memory of the server: the baseline after a first honest upload (libvips and
    ffmpeg loaded) and the largest value seen after each hostile one."""

    baseline_kib = 0
    peak_kib = 0
    tried = 0
    statuses: dict[int, int] = {}  # noqa: RUF012  (one module's tally)


def wait_until_processed(site: Site, thread_no: int, timeout: float = 60.0) -> None:
    """A video is posted as "processing" and finished by the site's background worker; the
    snapshots below must not catch that work halfway (its scratch file, its new blob)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        posts = httpx.get(f"{site.url}/b/thread/{thread_no}.json", timeout=30).json()["posts"]
        if all(post.get("tn_w", 1) > 0 for post in posts if "tim" in post):
            return
        time.sleep(0.2)
    raise AssertionError(f"the warm-up video of thread {thread_no} was not processed within {timeout} s")


@pytest.fixture(scope="module")
def warmed(site: Site) -> Site:
    for route in ("form", "api"):
        answer = send(site, route, "warm-up.png", samples.png_bytes(200, 150), "image/png")
        assert answer.status_code == 201, answer.text
    video = samples.video(site.data_dir.parent / "warm.webm")
    answer = send(site, "form", "warm-up.webm", video.read_bytes(), "video/webm")
    assert answer.status_code == 201, answer.text
    wait_until_processed(site, answer.json()["thread"])
    Peak.baseline_kib = memory_kib(site.pid)[0]
    return site


@pytest.mark.parametrize("route", ["form", "api"])
@pytest.mark.parametrize("hostile_case", CASES, ids=[c.id for c in CASES])
def test_hostile_file_is_refused_and_nothing_is_kept(
    warmed: Site, context: Context, hostile_case: Case, route: str
) -> None:
    site = warmed
    data = hostile_case.build(context)
    before = snapshot(site)
    hits_before = context.canary.hits

    answer = send(site, route, hostile_case.filename, data)

    Peak.tried += 1
    Peak.statuses[answer.status_code] = Peak.statuses.get(answer.status_code, 0) + 1
    assert answer.status_code in hostile_case.statuses, f"{answer.status_code}: {answer.text[:500]}"
    error = answer.json()["error"]
    assert error["field"] == ("upfile" if route == "form" else "files")
    assert hostile_case.says.lower() in error["message"].lower(), error["message"]
    assert len(error["message"]) > 25 and not error["message"].startswith("Internal")
    assert snapshot(site) == before, "a refused upload left something behind"
    assert context.canary.hits == hits_before, "ffmpeg followed a reference out of the uploaded file"
    assert site.alive()
    assert httpx.get(site.url + "/b/", timeout=30).status_code == 200
    Peak.peak_kib = max(Peak.peak_kib, memory_kib(site.pid)[1])


def _stored_names(site: Site) -> list[str]:
    return [row[0] for row in sqlite_rows(site.data_dir, "SELECT filename FROM attachments ORDER BY id")]


ABSURD_NAMES = {
    "traversal": "../../../../../../tmp/ib-owned.png",
    "windows-traversal": "..\\..\\..\\windows\\system32\\evil.png",
    "nul": "innocent.png\x00.html",
    "right-to-left-override": "holiday\u202egnp.exe",
    "control-characters": "line\r\nbreak\tand\x1bescape.png",
    "only-dots": "....",
    "long-2000": "x" * 2000 + ".png",
}


@pytest.mark.parametrize("name_id", list(ABSURD_NAMES))
def test_absurd_filename_on_a_real_image_is_shown_sanitised(warmed: Site, name_id: str) -> None:
    site = warmed
    filename = ABSURD_NAMES[name_id]
    before = snapshot(site)
    outside_before = files_under(site.data_dir.parent)
    size = list(ABSURD_NAMES).index(name_id)  # a picture of its own: new bytes to store
    answer = send(site, "form", filename, samples.png_bytes(61 + size, 47), "image/png")
    assert answer.status_code == 201, answer.text
    shown = _stored_names(site)[-1]
    assert shown and len(shown) <= 120
    assert not set(shown) & {"/", "\\", "\x00", "\r", "\n", "\t", "\x1b", "\u202e"}, repr(shown)
    assert not shown.startswith(".") and not shown.lower().endswith((".html", ".exe", ".png"))
    # Stored only under content-addressed keys inside the media directory.
    new_media = files_under(site.data_dir / "media") - before.media
    assert new_media and all(MEDIA_KEY.match(key) for key in new_media), new_media
    name = site.data_dir.name
    outside = {
        path
        for path in files_under(site.data_dir.parent) - outside_before
        if not path.startswith((f"{name}/media/", f"{name}/imageboard.sqlite3")) and path != f"{name}.log"
    }
    assert outside == set(), outside
    assert not Path("/tmp/ib-owned.png").exists()
    # And the JSON and HTML show the sanitised name, escaped.
    no = answer.json()["no"]
    post = httpx.get(f"{site.url}/b/thread/{no}.json", timeout=30).json()["posts"][0]
    assert post["filename"] == escape(shown)


def test_ten_thousand_character_filename_is_refused_clearly(warmed: Site) -> None:
    site = warmed
    before = snapshot(site)
    answer = send(site, "form", "n" * 10_000 + ".png", samples.png_bytes(40, 40), "image/png")
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["error"]["message"]
    assert snapshot(site) == before


EXIF_CASES = {
    "huge-entry-count": hostile.exif_huge_entry_count,
    "ifd-loop": hostile.exif_ifd_loop,
    "offsets-past-the-end": hostile.exif_offsets_past_the_end,
    "oversized-5.9MB": hostile.exif_oversized,
}


@pytest.mark.parametrize("exif_id", list(EXIF_CASES))
def test_malformed_or_oversized_exif_never_reaches_storage(warmed: Site, exif_id: str) -> None:
    """Metadata is removed from every stored image, never interpreted beyond the
    orientation; a broken EXIF block therefore costs the poster nothing and gives an
    attacker nothing. Either the image is refused clearly or stored without any EXIF."""
    site = warmed
    data = EXIF_CASES[exif_id]()
    before = snapshot(site)
    answer = send(site, "form", "photo.jpg", data, "image/jpeg")
    assert answer.status_code in (201, 400, 413, 415), answer.text
    if answer.status_code != 201:
        assert snapshot(site) == before
        assert answer.json()["error"]["field"] == "upfile"
        return
    no = answer.json()["no"]
    post = httpx.get(f"{site.url}/b/thread/{no}.json", timeout=30).json()["posts"][0]
    stored = httpx.get(f"{site.url}/media/b/{post['tim']}{post['ext']}", timeout=30).content
    assert stored.startswith(b"\xff\xd8") and {post["w"], post["h"]} == {96, 64}  # EXIF may turn it upright
    assert b"Exif\x00\x00" not in stored and samples.SECRET not in stored
    assert len(stored) < 100_000  # the megabytes of metadata are gone


def test_server_memory_stayed_bounded(warmed: Site, figures: Figures) -> None:
    """Runs after the hostile files (pytest keeps file order)."""
    site = warmed
    rss_kib, hwm_kib = memory_kib(site.pid)
    growth_mb = (rss_kib - Peak.baseline_kib) / 1024
    figures.record(
        "hostile_uploads",
        files_posted=Peak.tried,
        statuses=dict(sorted(Peak.statuses.items())),
        rss_baseline_mb=round(Peak.baseline_kib / 1024),
        rss_after_mb=round(rss_kib / 1024),
        rss_peak_mb=round(hwm_kib / 1024),
    )
    assert Peak.tried >= 2 * len(CASES)
    assert growth_mb < RSS_GROWTH_LIMIT_MB, f"the server grew by {growth_mb:.0f} MB"
    assert hwm_kib / 1024 < PEAK_RSS_LIMIT_MB, f"the server peaked at {hwm_kib / 1024:.0f} MB"
    assert site.alive()

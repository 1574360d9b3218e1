"""Over HTTP with the real media context (local storage): file bans enforced when posting,
"ban this file" from a post, the spoiler action, board banners, the custom spoiler image, and
the rules and announcement shown to posters. Pages are cached by version, so every change
must show on a page that was cached before it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
import pyvips
from sqlalchemy import text

from imageboard.accounts import Actor, BoardRole, SiteRole
from imageboard.app import create_app
from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings
from imageboard.core.db import Database
from imageboard.media import perceptual_hash

from .http_site import JSON, Site, Staff

ADMIN = Actor(user_id=0, username="setup", site_role=SiteRole.ADMIN)


def picture(seed: int, width: int = 320, height: int = 240, fmt: str = ".png", **options: object) -> bytes:
    """A smooth, deterministic picture (waves of colour, as photographs are)."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0] * (320 / width), xy[1] * (240 / height)
    r = ((x * (360 / (150 + 20 * seed))).sin() * 90 + 128).cast("uchar")
    g = (((x + 2 * y) * (360 / (200 + 45 * seed))).cos() * 90 + 128).cast("uchar")
    b = ((y * (360 / (120 + 30 * seed))).sin() * 90 + 128).cast("uchar")
    image = r.bandjoin([g, b]).copy(interpretation="srgb")
    return bytes(image.write_to_buffer(fmt, **options))


@pytest.fixture
async def media_site(tmp_path: Path, database: Database) -> Site:
    """The whole application with its real media context, a page cache, on both databases."""
    settings = Settings(
        data_dir=tmp_path, secret_key="test-secret", environment="development", page_cache="memory", antispam="off"
    )
    boards = BoardsService(database, secret=settings.secret)
    await boards.create_board(BoardSpec(uri="b", title="Random", require_file=False))
    await boards.create_board(BoardSpec(uri="tech", title="Technology", require_file=False))
    app = create_app(settings, database=database)
    return Site(app=app, transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 40000)))


async def post_file(
    client: httpx.AsyncClient, data: bytes, *, board: str = "b", thread: int = 0, spoiler: bool = False
) -> httpx.Response:
    form = {"resto": str(thread), "com": "a picture"} | ({"spoiler": "on"} if spoiler else {})
    files = {"upfile": ("pic.png", data, "image/png")}
    return await client.post(f"/{board}/post", data=form, files=files, headers=JSON)


async def stored(site: Site, tmp_path: Path) -> tuple[int, int, list[Path]]:
    """(posts, blob rows, files under media storage's src/)."""
    db: Database = site.app.state.db
    async with db.reader() as session:
        posts = (await session.execute(text("SELECT count(*) FROM posts"))).scalar_one()
        blobs = (await session.execute(text("SELECT count(*) FROM media_blobs"))).scalar_one()
    originals = [p for p in (tmp_path / "media" / "src").rglob("*") if p.is_file()]
    return int(posts), int(blobs), originals


async def test_a_banned_file_is_refused_before_anything_is_stored(media_site: Site, tmp_path: Path) -> None:
    site = media_site
    client = site.client()
    op = (await client.post("/b/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    first = await post_file(client, picture(1), thread=op)
    assert first.status_code == 201, first.text
    async with site.app.state.db.reader() as session:
        stored_sha, stored_phash = (await session.execute(text("SELECT sha256, phash FROM media_blobs"))).one()
    assert stored_phash is not None and len(stored_phash) == 16  # kept with the file
    # Taken from the reply's thumbnail at ingest: what media's public hash says of the file.
    posted = tmp_path / "posted.png"
    posted.write_bytes(picture(1))
    assert stored_phash == f"{perceptual_hash(posted, box=125):016x}"
    # Banned by what was stored (the cleaned file), as a moderator sees it on the post.
    await site.moderation.admin.add_file_ban(ADMIN, "b", sha256=stored_sha, reason="Known spam image.")
    before = await stored(site, tmp_path)
    assert before[1:] == (1, [tmp_path / "media" / "src" / stored_sha[:2] / f"{stored_sha}.png"])

    op = (await client.post("/b/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    refused = await post_file(client, picture(1), thread=op)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "file_banned" and error["field"] == "upfile"
    assert "banned on /b/" in error["message"] and "Known spam image." in error["message"]
    assert await stored(site, tmp_path) == (before[0] + 1, *before[1:])  # the thread only: no post, no blob
    html = await client.post("/b/post", data={"resto": str(op), "com": "x"}, files={"upfile": ("a.png", picture(1))})
    assert html.status_code == 403 and "This file is banned on /b/" in html.text
    # The ban is for /b/ only; elsewhere the file may be posted.
    other = (await client.post("/tech/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    assert (await post_file(client, picture(1), board="tech", thread=other)).status_code == 201
    await client.aclose()


async def test_look_alikes_are_refused_by_perceptual_hash(media_site: Site, tmp_path: Path) -> None:
    site = media_site
    client = site.client()
    op = (await client.post("/b/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    assert (await post_file(client, picture(2), thread=op)).status_code == 201
    async with site.app.state.db.reader() as session:
        stored_phash = (await session.execute(text("SELECT phash FROM media_blobs"))).scalar_one()
    await site.moderation.admin.add_file_ban(ADMIN, None, perceptual=stored_phash, distance=8)
    # The same picture re-encoded as a smaller JPEG: other bytes, the same look.
    resized = picture(2, 640, 480, ".jpg", Q=70)
    refused = await post_file(client, resized, thread=op)
    assert refused.status_code == 403 and "banned on this site" in refused.json()["error"]["message"]
    assert (await post_file(client, picture(5), thread=op)).status_code == 201  # another picture
    await client.aclose()


async def signed_in(site: Site, name: str, role: BoardRole | SiteRole) -> Staff:
    if isinstance(role, SiteRole):
        return await site.staff(name, site_role=role)
    return await site.staff(name, boards={"b": role})


async def test_ban_this_file_from_a_post(media_site: Site) -> None:
    site = media_site
    mod = await signed_in(site, "bmod", BoardRole.MODERATOR)
    client = site.client()
    op = (await client.post("/b/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    reply = (await post_file(client, picture(3), thread=op)).json()["no"]
    page = await mod.client.get(f"/staff/post/b/{reply}")
    assert page.status_code == 200 and 'id="ban-file"' in page.text
    thread_page = await mod.client.get(f"/b/thread/{op}")
    assert f'href="/staff/post/b/{reply}#ban-file"' in thread_page.text  # in the post's mod menu
    response = await mod.client.post(
        f"/staff/post/b/{reply}/ban-file",
        data={"csrf_token": mod.csrf, "match": "both", "distance": "8", "reason": "Gore.", "delete": "on"},
        headers=JSON,
    )
    assert response.status_code == 200, response.text
    bans = await site.moderation.admin.file_bans(ADMIN)
    assert [(b.board, b.phash is not None, b.sha256 is not None, b.distance) for b in bans] == [("b", True, True, 8)]
    json_thread = (await client.get(f"/b/thread/{op}.json")).json()
    assert json_thread["posts"][1].get("filedeleted") == 1  # "also delete" took the file off
    again = await post_file(client, picture(3, 400, 300, ".jpg", Q=80), thread=op)
    assert again.status_code == 403 and "Gore." in again.json()["error"]["message"]
    # A moderator cannot ban files site-wide.
    site_wide = await mod.client.post(
        f"/staff/post/b/{reply}/ban-file", data={"csrf_token": mod.csrf, "scope": "site"}, headers=JSON
    )
    assert site_wide.status_code == 403 and "manage_filters" in site_wide.json()["error"]["message"]
    await mod.client.aclose()
    await client.aclose()


async def test_spoiler_action_shows_on_cached_pages_and_json(media_site: Site) -> None:
    site = media_site
    janitor = await signed_in(site, "bjan", BoardRole.JANITOR)
    client = site.client()
    op = (await client.post("/b/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    reply = (await post_file(client, picture(4), thread=op)).json()["no"]
    before = await client.get(f"/b/thread/{op}")
    assert "/b/spoiler" not in before.text
    assert (await client.get(f"/b/thread/{op}")).text == before.text  # served from the page cache
    response = await janitor.client.post(
        f"/staff/post/b/{reply}/spoiler-file", data={"csrf_token": janitor.csrf}, headers=JSON
    )
    assert response.status_code == 200, response.text
    after = await client.get(f"/b/thread/{op}")
    assert re.search(r'<img src="/b/spoiler"[^>]*alt="Spoiler image"', after.text)
    post = (await client.get(f"/b/thread/{op}.json")).json()["posts"][1]
    assert post["spoiler"] == 1 and "custom_spoiler" not in post  # the board has no spoiler image yet
    again = await janitor.client.post(
        f"/staff/post/b/{reply}/spoiler-file", data={"csrf_token": janitor.csrf}, headers=JSON
    )
    assert again.status_code == 400 and "no file" in again.json()["error"]["message"]  # nothing left to spoiler
    await janitor.client.aclose()
    await client.aclose()


async def test_owner_banners_on_every_board_page(media_site: Site, tmp_path: Path) -> None:
    site = media_site
    owner = await signed_in(site, "bowner", BoardRole.OWNER)
    client = site.client()
    op = (await client.post("/b/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    for url in ("/b/", "/b/catalog", f"/b/thread/{op}"):  # cached without a banner
        assert 'src="/b/banner"' not in (await client.get(url)).text
    assert (await client.get("/b/banner")).status_code == 404

    wrong = await owner.client.post(
        "/staff/board/b/banners",
        data={"csrf_token": owner.csrf},
        files={"file": ("big.png", picture(1, 400, 100), "image/png")},
        headers=JSON,
    )
    assert wrong.status_code == 400 and "exactly 300×100" in wrong.json()["error"]["message"]
    not_image = await owner.client.post(
        "/staff/board/b/banners",
        data={"csrf_token": owner.csrf},
        files={"file": ("notes.txt", b"hello, this is text", "text/plain")},
        headers=JSON,
    )
    assert not_image.status_code == 415 and "not allowed" in not_image.json()["error"]["message"]
    missing = await owner.client.post("/staff/board/b/banners", data={"csrf_token": owner.csrf}, headers=JSON)
    assert missing.status_code == 400 and "Choose an image" in missing.json()["error"]["message"]

    banner = picture(1, 300, 100)
    added = await owner.client.post(
        "/staff/board/b/banners", data={"csrf_token": owner.csrf}, files={"file": ("banner.png", banner, "image/png")}
    )
    assert added.status_code == 303 and added.headers["location"] == "/staff/board/b#banners"
    name = (await site.boards.get_board("b")).banners[0]
    assert re.fullmatch(r"[0-9a-f]{64}\.png", name)
    for url in ("/b/", "/b/catalog", f"/b/thread/{op}"):
        assert '<img src="/b/banner" width="300" height="100"' in (await client.get(url)).text, url
    chosen = await client.get("/b/banner")
    assert chosen.status_code == 302 and chosen.headers["cache-control"] == "no-store"
    assert chosen.headers["location"] == f"/b/banners/{name}"
    image = await client.get(chosen.headers["location"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert "immutable" in image.headers["cache-control"]
    assert pyvips.Image.new_from_buffer(image.content, "").width == 300
    assert (tmp_path / "media" / "assets" / "b" / name).exists()  # in media storage
    settings_page = await owner.client.get("/staff/board/b")
    assert f'src="/b/banners/{name}"' in settings_page.text

    removed = await owner.client.post(
        "/staff/board/b/banners/delete", data={"csrf_token": owner.csrf, "name": name}, headers=JSON
    )
    assert removed.status_code == 200, removed.text
    assert 'src="/b/banner"' not in (await client.get(f"/b/thread/{op}")).text
    assert (await client.get(f"/b/banners/{name}")).status_code == 404
    assert not (tmp_path / "media" / "assets" / "b" / name).exists()
    gone = await owner.client.post(
        "/staff/board/b/banners/delete", data={"csrf_token": owner.csrf, "name": name}, headers=JSON
    )
    assert gone.status_code == 404
    log = await client.get("/b/modlog")
    assert "Added a banner" in log.text and "Removed a banner" in log.text
    await owner.client.aclose()
    await client.aclose()


async def test_custom_spoiler_image(media_site: Site) -> None:
    site = media_site
    owner = await signed_in(site, "bowner", BoardRole.OWNER)
    client = site.client()
    op = (await client.post("/b/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    assert (await post_file(client, picture(6), thread=op, spoiler=True)).status_code == 201
    default = await client.get("/b/spoiler")
    assert default.status_code == 302 and default.headers["location"] == "/static/img/spoiler.png"
    assert "custom_spoilers" not in (await client.get("/boards.json")).json()["boards"][0]

    wrong = await owner.client.post(
        "/staff/board/b/spoiler",
        data={"csrf_token": owner.csrf},
        files={"file": ("s.png", picture(1, 300, 100), "image/png")},
        headers=JSON,
    )
    assert wrong.status_code == 400 and "square" in wrong.json()["error"]["message"]
    image = picture(2, 120, 120, ".gif")
    made = await owner.client.post(
        "/staff/board/b/spoiler", data={"csrf_token": owner.csrf}, files={"file": ("s.gif", image, "image/gif")}
    )
    assert made.status_code == 303
    served = await client.get("/b/spoiler")
    assert served.status_code == 200 and served.headers["content-type"] == "image/gif"
    assert served.headers["cache-control"] == "public, max-age=300"
    page = await client.get(f"/b/thread/{op}")
    assert '<img src="/b/spoiler"' in page.text
    post = (await client.get(f"/b/thread/{op}.json")).json()["posts"][1]
    assert post["spoiler"] == 1 and post["custom_spoiler"] == 1
    boards = {b["board"]: b for b in (await client.get("/boards.json")).json()["boards"]}
    assert boards["b"]["custom_spoilers"] == 1 and "custom_spoilers" not in boards["tech"]

    removed = await owner.client.post("/staff/board/b/spoiler/delete", data={"csrf_token": owner.csrf}, headers=JSON)
    assert removed.status_code == 200
    assert (await client.get("/b/spoiler")).status_code == 302
    assert "custom_spoiler" not in (await client.get(f"/b/thread/{op}.json")).json()["posts"][1]
    await owner.client.aclose()
    await client.aclose()


async def test_rules_and_announcement_are_shown_to_posters(media_site: Site) -> None:
    site = media_site
    client = site.client()
    op = (await client.post("/b/post", data={"com": "a thread"}, headers=JSON)).json()["no"]
    for url in ("/b/", "/b/catalog", f"/b/thread/{op}"):
        assert "board-announcement" not in (await client.get(url)).text  # now cached
    await site.moderation.admin.update_board(
        ADMIN, "b", {"rules": "Stay on topic.\nNo <b>spam</b>.", "announcement": "Welcome back!\nBe kind."}
    )
    for url in ("/b/", "/b/catalog", f"/b/thread/{op}"):
        body = (await client.get(url)).text
        assert "Welcome back!" in body and "Be kind." in body, url
        assert 'href="/b/rules"' in body, url
    board_page = (await client.get("/b/")).text
    assert "Read the rules of /b/ before posting." in board_page
    rules = await client.get("/b/rules")
    assert rules.status_code == 200
    assert "<li>Stay on topic.</li>" in rules.text and "No &lt;b&gt;spam&lt;/b&gt;." in rules.text
    assert "No personal information about others." in rules.text  # the site's rules
    assert (await client.get("/nosuch/rules")).status_code == 404
    await client.aclose()

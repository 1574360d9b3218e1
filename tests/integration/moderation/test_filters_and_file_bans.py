"""Word filters on posting (replace, refuse, ban; board or site), file bans, board settings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pyvips

from imageboard.accounts import BoardRole
from imageboard.boards import BoardSpec
from imageboard.core.errors import Forbidden, InvalidInput
from imageboard.media import perceptual_hash
from imageboard.moderation import Banned, FileBanned, MissingPermission, check_file

from .conftest import ADMIN, JANITOR, MOD, OTHER_MOD, OWNER, Mod


async def test_a_pathological_pattern_cannot_stall_posting(mod: Mod) -> None:
    await mod.moderation.admin.add_filter(ADMIN, None, "(a+)+$", is_regex=True, action="refuse", reason="no a's")
    op = await mod.post("thread")
    started = time.perf_counter()
    await mod.post("a" * 1900 + "!", thread=op)  # Python's re would take ages here
    assert time.perf_counter() - started < 1.0
    with pytest.raises(InvalidInput, match="no a's"):
        await mod.post("aaaa", thread=op)


async def test_replace_refuse_and_ban_filters(mod: Mod) -> None:
    await mod.moderation.admin.add_filter(MOD, "b", "darn", is_regex=False, action="replace", replacement="gosh")
    await mod.moderation.admin.add_filter(
        MOD, "b", r"(?i)\bbuy\s+now\b", is_regex=True, action="ban", ban_hours=1, reason="Spam."
    )
    await mod.moderation.admin.add_filter(ADMIN, None, "forbidden", is_regex=False, action="refuse")
    op = await mod.post("DARN it, darn")
    assert (await mod.boards.thread("b", op)).op.comment == "gosh it, gosh"
    assert await mod.post("darn is fine on tech", board="tech")
    with pytest.raises(InvalidInput, match="refused"):
        await mod.post("this is forbidden", board="tech")
    with pytest.raises(Banned, match="Spam"):
        await mod.post("BUY  now!", thread=op, ip="192.0.2.9")
    with pytest.raises(Banned):
        await mod.post("an innocent post", ip="192.0.2.9")
    bans = await mod.moderation.bans.list_bans(ADMIN)
    assert [(b.created_by, b.board, b.network) for b in bans] == [("filter", "b", "192.0.2.9")]
    mod.clock.advance(hours=2)
    await mod.post("an innocent post", ip="192.0.2.9")


async def test_who_may_manage_filters(mod: Mod) -> None:
    with pytest.raises(MissingPermission):
        await mod.moderation.admin.add_filter(JANITOR, "b", "x", is_regex=False, action="refuse")
    with pytest.raises(MissingPermission, match="site-wide"):
        await mod.moderation.admin.add_filter(MOD, None, "x", is_regex=False, action="refuse")
    with pytest.raises(InvalidInput):
        await mod.moderation.admin.add_filter(MOD, "b", "(", is_regex=True, action="refuse")
    with pytest.raises(InvalidInput):
        await mod.moderation.admin.add_filter(MOD, "b", "x", is_regex=False, action="explode")
    made = await mod.moderation.admin.add_filter(MOD, "b", "x", is_regex=False, action="refuse")
    site = await mod.moderation.admin.add_filter(ADMIN, None, "y", is_regex=False, action="refuse")
    assert [f.id for f in await mod.moderation.admin.filters(MOD)] == [made.id]
    assert [f.id for f in await mod.moderation.admin.filters(ADMIN)] == [made.id, site.id]
    with pytest.raises(MissingPermission):
        await mod.moderation.admin.delete_filter(OTHER_MOD, made.id)
    await mod.moderation.admin.delete_filter(MOD, made.id)
    await mod.post("x marks the spot")


def _image(path: Path, seed: int, scale: float = 1.0) -> Path:
    """A picture of smooth shapes: a disc placed by the seed on a strong gradient, mirrored
    for odd seeds."""
    xy = pyvips.Image.xyz(256, 192)
    cx, cy = 40 + (seed * 53) % 170, 30 + (seed * 37) % 130
    disc = (((xy[0] - cx) ** 2 + (xy[1] - cy) ** 2) < 50**2).ifthenelse(255, 0)
    grey = (disc * 0.3 + xy[0] * 0.7).cast("uchar")
    if seed % 2:
        grey = grey.flip("horizontal")
    picture = grey.bandjoin([grey, grey]).copy(interpretation="srgb")
    if scale != 1.0:
        picture = picture.resize(scale)
    picture.write_to_file(str(path))
    return path


async def test_file_bans_by_sha256_and_perceptual_hash(mod: Mod, tmp_path: Path) -> None:
    banned = perceptual_hash(_image(tmp_path / "a.png", 1))
    resized = perceptual_hash(_image(tmp_path / "a-small.jpg", 1, 0.6))
    unrelated = perceptual_hash(_image(tmp_path / "b.png", 4))
    await mod.moderation.admin.add_file_ban(MOD, "b", sha256="ab" * 32, reason="Known spam image.")
    await mod.moderation.admin.add_file_ban(ADMIN, None, perceptual=f"{banned:016x}", distance=8)
    with pytest.raises(MissingPermission):
        await mod.moderation.admin.add_file_ban(JANITOR, "b", sha256="cd" * 32)
    with pytest.raises(InvalidInput):
        await mod.moderation.admin.add_file_ban(MOD, "b", sha256="not hex")
    async with mod.moderation.ctx.db.reader() as session:
        with pytest.raises(FileBanned, match="Known spam image"):
            await check_file(session, "b", "AB" * 32, None)
        await check_file(session, "tech", "ab" * 32, None)  # that ban is for /b/ only
        with pytest.raises(FileBanned) as refused:
            await check_file(session, "tech", "00" * 32, resized)
        assert refused.value.status == 403 and refused.value.field == "upfile"
        await check_file(session, "tech", "00" * 32, unrelated)
    listed = await mod.moderation.admin.file_bans(MOD)
    assert [b.sha256 for b in listed] == ["ab" * 32]
    await mod.moderation.admin.delete_file_ban(MOD, listed[0].id)
    async with mod.moderation.ctx.db.reader() as session:
        await check_file(session, "b", "ab" * 32, None)


async def test_board_settings_staff_and_creation(mod: Mod) -> None:
    with pytest.raises(MissingPermission, match="edit_board"):
        await mod.moderation.admin.update_board(MOD, "b", {"title": "Mine now"})
    await mod.moderation.admin.update_board(
        OWNER, "b", {"title": "Random stuff", "rules": "Be kind.\r\nNo spam.", "bump_limit": 10, "announcement": "Hi"}
    )
    settings = await mod.moderation.admin.board_settings(OWNER, "b")
    assert settings.board.title == "Random stuff" and settings.rule_list == ["Be kind.", "No spam."]
    assert settings.board.bump_limit == 10 and settings.announcement == "Hi"
    with pytest.raises(InvalidInput):
        await mod.moderation.admin.update_board(OWNER, "b", {"bump_limit": 0})
    with pytest.raises(InvalidInput):
        await mod.moderation.admin.update_board(OWNER, "b", {"ip_retention_days": 0})

    await mod.accounts.create_user("helper", "a long password here")
    await mod.accounts.create_user("boss", "a long password here")
    await mod.moderation.admin.set_board_staff(OWNER, "b", "helper", "janitor")
    assert ("helper", "janitor") in await mod.moderation.admin.board_staff(OWNER, "b")
    with pytest.raises(Forbidden, match="owners"):
        await mod.moderation.admin.set_board_staff(OWNER, "b", "boss", "owner")
    with pytest.raises(MissingPermission):
        await mod.moderation.admin.set_board_staff(MOD, "b", "helper", "moderator")
    await mod.moderation.admin.set_board_staff(ADMIN, "b", "boss", "owner")
    await mod.moderation.admin.set_board_staff(OWNER, "b", "helper", "none")
    assert await mod.accounts.board_staff("b") == [("boss", "owner")]

    # Board creation: administrators only, until the site opens it to every account.
    spec = BoardSpec(uri="diy", title="Do it yourself", require_file=False)
    creator = OWNER.__class__(user_id=99, username="boss", board_roles={"b": BoardRole.OWNER})
    with pytest.raises(MissingPermission, match="create_any_board"):
        await mod.moderation.admin.create_board(creator, spec)
    with pytest.raises(MissingPermission):
        await mod.moderation.admin.update_site(MOD, global_rules="x", board_creation="open", ip_retention_days=30)
    await mod.moderation.admin.update_site(ADMIN, global_rules="Rule one.", board_creation="open", ip_retention_days=14)
    site = await mod.moderation.admin.site_settings()
    assert site.rule_list == ["Rule one."] and site.board_creation == "open" and site.ip_retention_days == 14
    await mod.moderation.admin.create_board(creator, spec)
    assert await mod.accounts.board_staff("diy") == [("boss", "owner")]
    await mod.moderation.admin.create_board(ADMIN, BoardSpec(uri="art", title="Art", require_file=False))
    assert await mod.accounts.board_staff("art") == []

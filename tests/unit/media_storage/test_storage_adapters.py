"""What only one adapter (or the shared key rules) promises."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imageboard.media.storage import (
    InvalidKey,
    check_key,
    make_storage,
    original_key,
    parse_key,
    thumbnail_key,
)
from imageboard.media.storage_local import LocalStorage

from .conftest import ACCESS_KEY, REGION, SECRET_KEY, make_s3, new_bucket

SHA = hashlib.sha256(b"x").hexdigest()


def test_key_layout() -> None:
    assert original_key(SHA, ".webm") == f"src/{SHA[:2]}/{SHA}.webm"
    assert thumbnail_key(SHA, 250) == f"thumb/{SHA[:2]}/{SHA}-250.jpg"
    original = parse_key(original_key(SHA, ".webm"))
    thumb = parse_key(thumbnail_key(SHA, 125))
    assert original is not None and (original.sha256, original.ext, original.box) == (SHA, ".webm", None)
    assert thumb is not None and (thumb.sha256, thumb.box, thumb.is_thumbnail) == (SHA, 125, True)


@pytest.mark.parametrize(
    "key",
    [
        f"src/zz/{SHA}.png",  # shard does not match the hash
        f"src/{SHA[:2]}/{SHA}",  # no extension
        f"thumb/{SHA[:2]}/{SHA}.jpg",  # no box
        f"other/{SHA[:2]}/{SHA}.png",
        "src/ab/short.png",
    ],
)
def test_foreign_keys_are_not_ours(key: str) -> None:
    assert parse_key(key) is None


@pytest.mark.parametrize(("sha", "ext"), [("ABC", ".png"), (SHA.upper(), ".png"), (SHA, "png"), (SHA, "./png")])
def test_key_parts_are_checked(sha: str, ext: str) -> None:
    with pytest.raises(InvalidKey):
        original_key(sha, ext)


def test_check_key_length() -> None:
    assert check_key("a" * 512) == "a" * 512
    with pytest.raises(InvalidKey):
        check_key("a" * 513)


def test_local_refuses_a_symlink_out_of_the_root(tmp_path: Path) -> None:
    root = tmp_path / "media"
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("secret")
    root.mkdir()
    (root / "src").symlink_to(outside, target_is_directory=True)
    storage = LocalStorage(root)
    with pytest.raises(InvalidKey):
        storage.path_for("src/secret")
    assert storage.path_for("thumb/ab/c.jpg") == root.resolve() / "thumb/ab/c.jpg"


async def test_local_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    source = tmp_path / "s"
    source.write_bytes(b"abc")
    await storage.put_file(original_key(SHA, ".png"), source, "image/png")
    files = [p.relative_to(storage.root).as_posix() for p in storage.root.rglob("*") if p.is_file()]
    assert files == [original_key(SHA, ".png")]
    assert storage.public_url(original_key(SHA, ".png")) is None


async def test_local_links_a_source_on_its_disk_and_makes_it_public(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    source = tmp_path / "scratch"
    source.write_bytes(b"processed upload")
    source.chmod(0o600)  # scratch files are private (mkstemp)
    key = original_key(SHA, ".png")
    await storage.put_file(key, source, "image/png")
    stored = storage.path_for(key)
    assert stored.stat().st_ino == source.stat().st_ino  # no second copy of the bytes
    assert stored.stat().st_mode & 0o777 == 0o644
    source.unlink()  # the caller removes its scratch file; the object stays
    assert stored.read_bytes() == b"processed upload"


async def test_local_copies_where_it_cannot_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def cross_device(*_args: object, **_kwargs: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    storage = LocalStorage(tmp_path / "media")
    source = tmp_path / "scratch"
    source.write_bytes(b"on another disk")
    key = original_key(SHA, ".png")
    await storage.put_file(key, source, "image/png")
    stored = storage.path_for(key)
    assert stored.read_bytes() == b"on another disk"
    assert stored.stat().st_ino != source.stat().st_ino


async def test_local_listing_skips_temporary_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "media")
    shard = storage.root / "src" / SHA[:2]
    shard.mkdir(parents=True)
    (shard / f".tmp-0123-{SHA}.png").write_bytes(b"half")
    assert [key async for key, _ in storage.list_keys()] == []


def test_s3_public_url(s3_endpoint: str) -> None:
    plain = make_s3(s3_endpoint)
    assert plain.public_url(original_key(SHA, ".png")) is None
    cdn = make_s3(s3_endpoint, public_base_url="https://cdn.example.org/media/", key_prefix="board-media/")
    assert cdn.public_url(original_key(SHA, ".png")) == (
        f"https://cdn.example.org/media/board-media/src/{SHA[:2]}/{SHA}.png"
    )


async def test_s3_key_prefix_is_kept_apart(s3_endpoint: str, tmp_path: Path) -> None:
    bucket = new_bucket(s3_endpoint)
    a = make_s3(s3_endpoint, bucket=bucket, key_prefix="site-a/")
    b = make_s3(s3_endpoint, bucket=bucket, key_prefix="site-b/")
    source = tmp_path / "s"
    source.write_bytes(b"abc")
    await a.put_file(original_key(SHA, ".png"), source, "image/png")
    assert await a.exists(original_key(SHA, ".png"))
    assert not await b.exists(original_key(SHA, ".png"))
    assert [key async for key, _ in a.list_keys()] == [original_key(SHA, ".png")]
    assert [key async for key, _ in b.list_keys()] == []


async def test_s3_unreachable_is_a_storage_error(tmp_path: Path) -> None:
    from imageboard.media.storage import StorageError
    from imageboard.media.storage_s3 import S3Storage

    storage = S3Storage(
        bucket="nowhere",
        endpoint_url="http://127.0.0.1:9",
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        connect_timeout=0.5,
    )
    with pytest.raises(StorageError):
        await storage.size(original_key(SHA, ".png"))


def test_make_storage(tmp_path: Path, s3_endpoint: str) -> None:
    local = make_storage("local", root=tmp_path / "m")
    assert isinstance(local, LocalStorage)
    s3 = make_storage(
        "s3",
        bucket="b",
        endpoint_url=s3_endpoint,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )
    assert type(s3).__name__ == "S3Storage"
    with pytest.raises(ValueError, match="unknown media storage"):
        make_storage("ftp", root=tmp_path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bucket"):
        make_storage("s3", bucket="")


def test_the_embedded_default_never_imports_boto3() -> None:
    code = (
        "import sys\n"
        "import imageboard.media.storage, imageboard.media.storage_local, imageboard.media.service\n"
        "import imageboard.media.routes, imageboard.media.tasks\n"
        "from imageboard.media.storage import make_storage\n"
        "make_storage('local', root='/tmp/never-used')\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_settings_choose_the_storage_for_the_site_worker_and_cli(s3_endpoint: str, tmp_path: Path) -> None:
    """``storage_from_settings`` is the one place the site, the worker and ``imageboard media``
    build their storage: an S3 bucket when the settings say s3, else the data directory."""
    from imageboard.config import Settings
    from imageboard.media import storage_from_settings
    from imageboard.media.storage_s3 import S3Storage

    source = tmp_path / "upload"
    source.write_bytes(b"abc")
    local = storage_from_settings(Settings(data_dir=tmp_path, secret_key="x"))
    assert isinstance(local, LocalStorage)
    await local.put_file(original_key(SHA, ".png"), source, "image/png")
    assert (tmp_path / "media" / original_key(SHA, ".png")).read_bytes() == b"abc"

    bucket = new_bucket(s3_endpoint)
    chosen = storage_from_settings(
        Settings(
            data_dir=tmp_path,
            secret_key="x",
            media_storage="s3",
            s3_bucket=bucket,
            s3_endpoint_url=s3_endpoint,
            s3_region=REGION,
            s3_access_key=ACCESS_KEY,
            s3_secret_key=SECRET_KEY,
        )
    )
    assert isinstance(chosen, S3Storage)
    await chosen.put_file(original_key(SHA, ".png"), source, "image/png")
    assert [key async for key, _ in make_s3(s3_endpoint, bucket=bucket).list_keys()] == [original_key(SHA, ".png")]
    with pytest.raises(ValueError, match="IMAGEBOARD_S3_BUCKET"):
        storage_from_settings(Settings(data_dir=tmp_path, secret_key="x", media_storage="s3"))

"""``imageboard backup`` / ``restore`` for the embedded default, through the real command,
while the real server keeps writing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import CLI, RunningServer, start_server, stop_server


@pytest.fixture(scope="module")
def busy_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    # The test posts many threads from one address: that is load, not spam.
    running = start_server(tmp_path_factory.mktemp("site"), {"IMAGEBOARD_ANTISPAM": "off"})
    media = running.data_dir / "media" / "src" / "ab"
    media.mkdir(parents=True)
    for index in range(3):
        digest = hashlib.sha256(str(index).encode()).hexdigest()
        (media / f"ab{digest[2:]}.png").write_bytes(os.urandom(50_000 + index))
    (running.data_dir / "media" / ".partial-upload").write_bytes(b"being written")
    yield running
    stop_server(running)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def post(url: str, text: str) -> None:
    response = httpx.post(url + "/b/post", data={"com": text}, headers={"Accept": "application/json"}, timeout=10)
    assert response.status_code == 201, response.text


def test_backup_while_posting_then_restore_elsewhere(busy_site: RunningServer, tmp_path: Path) -> None:
    for index in range(5):
        post(busy_site.url, f"before the backup {index}")
    stop = threading.Event()
    written: list[int] = []

    def keep_posting() -> None:
        while not stop.is_set():
            post(busy_site.url, f"during the backup {len(written)}")
            written.append(1)

    writer = threading.Thread(target=keep_posting)
    writer.start()
    try:
        archive = tmp_path / "site.tar.gz"
        made = busy_site.cli("backup", str(archive))
    finally:
        stop.set()
        writer.join()
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith(f"wrote {archive} (")
    assert oct(archive.stat().st_mode & 0o777) == "0o600"  # it holds the server secret

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert "database/imageboard.sqlite3" in names and "secret.key" in names
    assert sum(name.startswith("media/src/ab/") for name in names) == 3
    assert not any(".partial" in name for name in names)
    assert manifest["format"] == "imageboard-backup/1"
    assert manifest["database"]["alembic_revision"]
    assert {entry["path"] for entry in manifest["files"]} == set(names) - {"manifest.json"}

    target = tmp_path / "restored"
    env = {**busy_site.env, "IMAGEBOARD_DATA_DIR": str(target)}
    restored = run(env, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "restored 5 files" in restored.stdout
    for name in ("secret.key", *(str(p.relative_to(busy_site.data_dir)) for p in
                                 (busy_site.data_dir / "media").rglob("*.png"))):
        assert (target / name).read_bytes() == (busy_site.data_dir / name).read_bytes(), name
    connection = sqlite3.connect(target / "imageboard.sqlite3")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        comments = [row[0] for row in connection.execute("SELECT comment FROM posts")]
    finally:
        connection.close()
    assert sum(c.startswith("before the backup") for c in comments) == 5
    # A consistent snapshot: some of the concurrent posts may be in it, each of them whole.
    assert len(comments) <= 5 + len(written)
    listed = run(env, "list-boards")
    assert listed.returncode == 0 and "/b/" in listed.stdout


def test_restore_refuses_a_non_empty_data_dir_unless_forced(busy_site: RunningServer, tmp_path: Path) -> None:
    archive = tmp_path / "site.tar.gz"
    assert busy_site.cli("backup", str(archive)).returncode == 0
    target = tmp_path / "occupied"
    target.mkdir()
    (target / "imageboard.sqlite3").write_bytes(b"an older site")
    (target / "imageboard.sqlite3-wal").write_bytes(b"its journal")
    env = {**busy_site.env, "IMAGEBOARD_DATA_DIR": str(target)}
    refused = run(env, "restore", str(archive))
    assert refused.returncode == 1
    assert refused.stderr.startswith("imageboard: error: the data directory")
    assert "--force" in refused.stderr
    assert (target / "imageboard.sqlite3").read_bytes() == b"an older site"

    forced = run(env, "restore", str(archive), "--force")
    assert forced.returncode == 0, forced.stderr
    aside = [p for p in target.iterdir() if p.name.startswith(".before-restore-")]
    assert len(aside) == 1 and (aside[0] / "imageboard.sqlite3").read_bytes() == b"an older site"
    assert not (target / "imageboard.sqlite3-wal").exists()  # a stale journal would corrupt the restore
    assert sqlite3.connect(target / "imageboard.sqlite3").execute("SELECT count(*) FROM boards").fetchone()[0] >= 1


def _rewrite(archive: Path, damaged: Path, change: dict[str, bytes]) -> None:
    with tarfile.open(archive) as source, tarfile.open(damaged, "w:gz") as out:
        for member in source:
            data = source.extractfile(member).read()  # type: ignore[union-attr]
            data = change.get(member.name, data)
            member.size = len(data)
            out.addfile(member, io.BytesIO(data))


def test_damaged_or_foreign_archives_are_refused(busy_site: RunningServer, tmp_path: Path) -> None:
    archive = tmp_path / "site.tar.gz"
    assert busy_site.cli("backup", str(archive)).returncode == 0
    env = {**busy_site.env, "IMAGEBOARD_DATA_DIR": str(tmp_path / "new")}

    damaged = tmp_path / "damaged.tar.gz"
    _rewrite(archive, damaged, {"secret.key": b"not the secret"})
    result = run(env, "restore", str(damaged))
    assert result.returncode == 1 and "checksum mismatch" in result.stderr and "secret.key" in result.stderr
    assert not (tmp_path / "new" / "imageboard.sqlite3").exists()
    assert [p.name for p in (tmp_path / "new").iterdir()] == []  # the staging area is gone too

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/evil")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"boom"))
    result = run(env, "restore", str(evil))
    assert result.returncode == 1 and "unsafe path" in result.stderr

    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    result = run(env, "restore", str(truncated))
    assert result.returncode == 1 and "cannot read the backup" in result.stderr

    missing = run(env, "restore", str(tmp_path / "nothing.tar.gz"))
    assert missing.returncode == 1 and "there is no backup file" in missing.stderr


def test_backup_explains_what_to_use_for_postgresql(busy_site: RunningServer, tmp_path: Path) -> None:
    env = {**busy_site.env, "IMAGEBOARD_DATABASE_URL": "postgresql+asyncpg://u:p@127.0.0.1:1/x"}
    result = run(env, "backup", str(tmp_path / "x.tar.gz"))
    assert result.returncode == 1
    assert "pg_dump" in result.stderr
    into_dir = busy_site.cli("backup", str(tmp_path))
    assert into_dir.returncode == 0
    assert len(list(tmp_path.glob("imageboard-backup-*.tar.gz"))) == 1

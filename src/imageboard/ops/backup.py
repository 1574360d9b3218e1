"""Backups of the embedded default: the SQLite database, the media directory and the secret.

A backup is one ``.tar.gz``:

    database/imageboard.sqlite3   consistent snapshot (SQLite's online backup API)
    media/src/ab/<sha256>.png     every file under <data_dir>/media
    secret.key                    the server secret (tripcodes, poster IDs stay stable)
    manifest.json                 format, versions, and size + SHA-256 of every file above

The database is copied first and the media directory after it. Files are written to storage
before the post that uses them commits and never change afterwards (content-addressed), so
every file the snapshot refers to is already on disk when the media directory is read; the
server may keep running meanwhile.

Restoring verifies every checksum and the database's integrity in a staging directory
before anything in the data directory is touched, and refuses a non-empty data directory
unless forced (then the old contents are moved aside, not deleted).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy.engine import make_url

from imageboard import __version__

__all__ = [
    "FORMAT",
    "BackupError",
    "BackupResult",
    "RestoreResult",
    "create_backup",
    "restore_backup",
    "sqlite_path",
]

FORMAT = "imageboard-backup/1"
DATABASE_MEMBER = "database/imageboard.sqlite3"
SECRET_MEMBER = "secret.key"  # noqa: S105  (a file name)
MANIFEST_MEMBER = "manifest.json"
MEDIA_DIR = "media"
CHUNK = 1024 * 1024
IGNORED_IN_DATA_DIR = frozenset({"lost+found"})


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    files: int
    bytes: int
    database_revision: str | None


@dataclass(frozen=True, slots=True)
class RestoreResult:
    files: int
    bytes: int
    database_revision: str | None
    moved_aside: Path | None


def sqlite_path(database_url: str) -> Path | None:
    """The file of a SQLite database URL, or None for any other database."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).expanduser().resolve()


def _require_sqlite(database_url: str) -> Path:
    path = sqlite_path(database_url)
    if path is None:
        raise BackupError(
            "backup and restore cover the embedded SQLite database; for PostgreSQL use pg_dump and "
            "pg_restore (see docs/operations.md)"
        )
    return path


class _Hashing:
    """A file object that hashes what is read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


def _snapshot(source: Path, target: Path) -> str | None:
    """Copy a live SQLite database with the online backup API; return its migration revision."""
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step: one read transaction, so one consistent state
        verdict = dst.execute("PRAGMA integrity_check").fetchone()
        if not verdict or verdict[0] != "ok":
            raise BackupError(f"the database at {source} fails its integrity check: {verdict}")
        try:
            row = dst.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            row = None
        return str(row[0]) if row else None
    finally:
        dst.close()
        src.close()


def _media_files(media: Path) -> Iterator[tuple[Path, str]]:
    if not media.is_dir():
        return
    for root, dirs, files in os.walk(media):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):  # the storage adapter's files being written
                continue
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path, f"{MEDIA_DIR}/{path.relative_to(media).as_posix()}"


def create_backup(*, data_dir: Path, database_url: str, dest: Path) -> BackupResult:
    """Write a backup archive to ``dest`` (a file, or a directory to put a dated file in)."""
    database = _require_sqlite(database_url)
    if not database.exists():
        raise BackupError(f"there is no database at {database}: nothing to back up")
    if dest.is_dir():
        dest = dest / f"imageboard-backup-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.tar.gz"
    dest = dest.resolve()
    media = (data_dir / MEDIA_DIR).resolve()
    if dest.is_relative_to(media):
        raise BackupError("the backup cannot be written inside the media directory it copies")
    dest.parent.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    partial = dest.with_name(f".{dest.name}.partial")
    with tempfile.TemporaryDirectory(prefix=".imageboard-backup-", dir=dest.parent) as staging:
        snapshot = Path(staging) / "imageboard.sqlite3"
        revision = _snapshot(database, snapshot)
        try:
            with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
                sources: list[tuple[Path, str]] = [(snapshot, DATABASE_MEMBER)]
                if (data_dir / SECRET_MEMBER).is_file():
                    sources.append((data_dir / SECRET_MEMBER, SECRET_MEMBER))
                for path, name in [*sources, *_media_files(media)]:
                    entries.append(_add_file(tar, path, name))
                manifest = {
                    "format": FORMAT,
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "imageboard_version": __version__,
                    "database": {"member": DATABASE_MEMBER, "alembic_revision": revision},
                    "files": entries,
                }
                body = json.dumps(manifest, indent=1).encode()
                info = tarfile.TarInfo(MANIFEST_MEMBER)
                info.size = len(body)
                info.mtime = int(datetime.now(UTC).timestamp())
                info.mode = 0o600
                tar.addfile(info, _BytesReader(body))
            partial.chmod(0o600)  # it holds the server secret
            os.replace(partial, dest)
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(dest, len(entries), sum(e["size"] for e in entries), revision)


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.offset + size
        chunk = self.data[self.offset : end]
        self.offset += len(chunk)
        return chunk


def _add_file(tar: tarfile.TarFile, path: Path, name: str) -> dict[str, Any]:
    stat = path.stat()
    info = tarfile.TarInfo(name)
    info.size = stat.st_size
    info.mtime = int(stat.st_mtime)
    info.mode = 0o600 if name == SECRET_MEMBER else 0o644
    with path.open("rb") as raw:
        reader = _Hashing(raw)
        tar.addfile(info, reader)
    return {"path": name, "size": reader.size, "sha256": reader.digest.hexdigest()}


def _safe_member_name(name: str) -> str:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise BackupError(f"the archive holds an unsafe path ({name!r}); it was not made by imageboard backup")
    clean = pure.as_posix()
    if clean not in (DATABASE_MEMBER, SECRET_MEMBER, MANIFEST_MEMBER) and not clean.startswith(f"{MEDIA_DIR}/"):
        raise BackupError(f"the archive holds an unexpected file ({clean}); it was not made by imageboard backup")
    return clean


def _occupants(data_dir: Path, database: Path) -> list[Path]:
    found = [p for p in data_dir.iterdir() if p.name not in IGNORED_IN_DATA_DIR] if data_dir.is_dir() else []
    if database.exists() and not database.is_relative_to(data_dir):
        found.append(database)
    return found


def restore_backup(*, archive: Path, data_dir: Path, database_url: str, force: bool = False) -> RestoreResult:
    """Restore a backup into ``data_dir`` (and the SQLite file of ``database_url``).

    Stop the server first. Refuses a non-empty data directory unless ``force``; with it, the
    old contents are moved to ``<data_dir>/.before-restore-<time>/``.
    """
    database = _require_sqlite(database_url)
    if not archive.is_file():
        raise BackupError(f"there is no backup file at {archive}")
    data_dir = data_dir.resolve()
    occupied = _occupants(data_dir, database)
    if occupied and not force:
        raise BackupError(
            f"the data directory {data_dir} is not empty ({len(occupied)} entries); stop the server and "
            "use --force to replace its contents (they are moved aside, not deleted)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=data_dir))
    try:
        manifest, digests = _extract(archive, staging)
        _verify(manifest, digests)
        revision = _check_database(staging / DATABASE_MEMBER)
        moved_aside = _move_aside(occupied, data_dir, staging) if occupied else None
        database.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / DATABASE_MEMBER, database)
        if (staging / SECRET_MEMBER).exists():
            os.replace(staging / SECRET_MEMBER, data_dir / SECRET_MEMBER)
        if (staging / MEDIA_DIR).exists():
            os.replace(staging / MEDIA_DIR, data_dir / MEDIA_DIR)
        else:
            (data_dir / MEDIA_DIR).mkdir(exist_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(len(digests), sum(size for size, _ in digests.values()), revision, moved_aside)


def _extract(archive: Path, staging: Path) -> tuple[dict[str, Any], dict[str, tuple[int, str]]]:
    manifest: dict[str, Any] | None = None
    digests: dict[str, tuple[int, str]] = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.isdir():
                    continue
                name = _safe_member_name(member.name)
                if not member.isfile():
                    raise BackupError(f"the archive holds a link or device ({name}); refusing it")
                source = tar.extractfile(member)
                if source is None:
                    raise BackupError(f"cannot read {name} from the archive")
                if name == MANIFEST_MEMBER:
                    manifest = json.loads(source.read(16 * CHUNK))
                    continue
                if name in digests:
                    raise BackupError(f"the archive holds {name} twice")
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                size = 0
                with target.open("wb") as out:
                    while chunk := source.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                if name == SECRET_MEMBER:
                    target.chmod(0o600)
                digests[name] = (size, digest.hexdigest())
    except (tarfile.TarError, EOFError, OSError, json.JSONDecodeError) as exc:
        raise BackupError(f"cannot read the backup {archive}: {exc}") from exc
    if manifest is None:
        raise BackupError("the archive has no manifest.json; it was not made by imageboard backup")
    return manifest, digests


def _verify(manifest: dict[str, Any], digests: dict[str, tuple[int, str]]) -> None:
    if manifest.get("format") != FORMAT:
        raise BackupError(f"unknown backup format {manifest.get('format')!r} (this version reads {FORMAT})")
    listed = {entry["path"]: (int(entry["size"]), str(entry["sha256"])) for entry in manifest.get("files", [])}
    if DATABASE_MEMBER not in listed:
        raise BackupError("the backup has no database")
    missing = sorted(set(listed) - set(digests))
    extra = sorted(set(digests) - set(listed))
    if missing or extra:
        raise BackupError(f"the archive does not match its manifest (missing: {missing[:5]}, unlisted: {extra[:5]})")
    damaged = sorted(name for name, expected in listed.items() if digests[name] != expected)
    if damaged:
        raise BackupError(f"checksum mismatch, the backup is damaged: {', '.join(damaged[:5])}")


def _check_database(path: Path) -> str | None:
    connection = sqlite3.connect(path)
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()
        if not verdict or verdict[0] != "ok":
            raise BackupError(f"the database in the backup fails its integrity check: {verdict}")
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.DatabaseError:
            row = None
        return str(row[0]) if row else None
    finally:
        connection.close()


def _move_aside(occupied: list[Path], data_dir: Path, staging: Path) -> Path:
    aside = data_dir / f".before-restore-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    aside.mkdir()
    for path in occupied:
        if path in (staging, aside):
            continue
        shutil.move(str(path), str(aside / path.name))
    return aside

"""Fixtures for the media tests: a scratch ``workdir`` per test and helpers to run an
upload through ``process_upload`` and to check a refusal."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from imageboard.core.errors import DomainError
from imageboard.media.limits import MediaLimits
from imageboard.media.processing import ProcessedFile, process_upload

EVERYTHING = MediaLimits(allowed=frozenset({"jpg", "png", "gif", "webp", "avif", "webm", "mp4", "mp3", "ogg"}))

Upload = Callable[..., ProcessedFile]
Refuse = Callable[..., DomainError]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """Where uploaded files arrive (not the workdir: processing must not touch them)."""
    path = tmp_path / "inbox"
    path.mkdir()
    return path


def _as_file(inbox: Path, data: bytes | Path, name: str) -> Path:
    if isinstance(data, Path):
        return data
    path = inbox / "upload.bin"
    path.write_bytes(data)
    return path


@pytest.fixture
def upload(workdir: Path, inbox: Path) -> Upload:
    def run(
        data: bytes | Path, name: str = "upload.bin", limits: MediaLimits = EVERYTHING, *, is_op: bool = True
    ) -> ProcessedFile:
        source = _as_file(inbox, data, name)
        before = source.read_bytes()
        result = process_upload(source, name, limits, is_op=is_op, workdir=workdir)
        assert source.read_bytes() == before, "the upload itself must not be changed"
        assert result.original.parent == workdir
        if result.thumbnail is not None:
            assert result.thumbnail.parent == workdir
        return result

    return run


@pytest.fixture
def refuse(workdir: Path, inbox: Path) -> Refuse:
    def run(
        data: bytes | Path,
        error: type[DomainError],
        *fragments: str,
        limits: MediaLimits = EVERYTHING,
        name: str = "upload.bin",
    ) -> DomainError:
        source = _as_file(inbox, data, name)
        with pytest.raises(error) as caught:
            process_upload(source, name, limits, is_op=False, workdir=workdir)
        refusal = caught.value
        assert type(refusal) is error
        assert refusal.field == "upfile"
        for fragment in fragments:
            assert fragment in refusal.message, refusal.message
        assert list(workdir.iterdir()) == [], "a refusal must leave no temporary files"
        return refusal

    return run

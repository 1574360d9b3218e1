"""Spooling an upload to a file of its own, within the board's size limit: from the form
parser's copy (in memory or rolled to disk) and from anything that can only be read."""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

import pytest
from starlette.datastructures import UploadFile

from imageboard.core.errors import TooLarge
from imageboard.media.uploads import CHUNK, MIB, UploadLike, spool_upload

LIMIT = 1 * MIB


class OnlyReadable:
    """An upload offering nothing but ``read`` (no file object underneath)."""

    filename: str | None

    def __init__(self, data: bytes, filename: str = "photo.jpg") -> None:
        self._stream = io.BytesIO(data)
        self.filename = filename

    async def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)


def _form_upload(data: bytes, *, rolled: bool) -> UploadFile:
    """What the form parser hands over: a spooled file, in memory or rolled to disk."""
    spooled = tempfile.SpooledTemporaryFile(max_size=64 * MIB)  # noqa: SIM115
    spooled.write(data)
    if rolled:
        spooled.rollover()
    spooled.seek(0)
    assert spooled._rolled is rolled  # type: ignore[attr-defined]
    return UploadFile(cast(BinaryIO, spooled), filename="photo.jpg", size=len(data))


UPLOADS: dict[str, Callable[[bytes], UploadLike]] = {
    "parsed in memory": lambda data: _form_upload(data, rolled=False),
    "parsed to disk": lambda data: _form_upload(data, rolled=True),
    "only readable": OnlyReadable,
}


@pytest.mark.parametrize("kind", list(UPLOADS))
@pytest.mark.parametrize("size", [0, 1, CHUNK + 1, LIMIT])
async def test_spooled_copy_is_the_upload(kind: str, size: int, tmp_path: Path) -> None:
    data = os.urandom(size)
    path = await spool_upload(UPLOADS[kind](data), tmp_path, LIMIT)
    assert path.parent == tmp_path
    assert path.read_bytes() == data


@pytest.mark.parametrize("kind", list(UPLOADS))
@pytest.mark.parametrize("size", [LIMIT + 1, LIMIT + CHUNK, 3 * LIMIT])
async def test_past_the_limit_is_refused_and_leaves_nothing(kind: str, size: int, tmp_path: Path) -> None:
    with pytest.raises(TooLarge, match=r"The file 'photo.jpg' is too large: at most 1 MiB per file here\."):
        await spool_upload(UPLOADS[kind](os.urandom(size)), tmp_path, LIMIT)
    assert list(tmp_path.iterdir()) == []  # noqa: ASYNC240

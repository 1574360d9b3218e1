"""Hostile bytes through the whole pipeline: damaged variants of every format must end in
acceptance or a DomainError — never another exception, a hang, or a leftover temp file."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from imageboard.core.errors import DomainError
from imageboard.media.processing import process_upload
from tests import media_samples as samples

from .conftest import EVERYTHING


def _mutations(seed: bytes, rng: random.Random, count: int) -> list[bytes]:
    variants = []
    for _ in range(count):
        data = bytearray(seed)
        action = rng.random()
        if action < 0.5:  # flip bytes anywhere, headers included
            for _ in range(rng.randint(1, 12)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif action < 0.7:  # cut
            del data[rng.randrange(8, len(data)) :]
        elif action < 0.85:  # duplicate a slice (repeated chunks, frames, boxes)
            start = rng.randrange(len(data))
            data[start:start] = data[start : start + rng.randint(1, 64)]
        else:  # overwrite a run with 0xFF (marker storms) or zeros (size fields)
            start = rng.randrange(len(data))
            data[start : start + rng.randint(1, 32)] = bytes([rng.choice((0x00, 0xFF))]) * rng.randint(1, 32)
        variants.append(bytes(data))
    return variants


def _run_all(variants: list[bytes], inbox: Path, workdir: Path) -> None:
    for i, data in enumerate(variants):
        source = inbox / f"fuzz-{i}"
        source.write_bytes(data)
        refusal: DomainError | None = None
        try:
            result = process_upload(source, "fuzz", EVERYTHING, is_op=False, workdir=workdir)
        except DomainError as error:
            refusal = error
        if refusal is not None:
            assert refusal.field == "upfile"
            assert list(workdir.iterdir()) == [], f"variant {i} left files behind"
        else:
            result.original.unlink()
            if result.thumbnail:
                result.thumbnail.unlink()


@pytest.mark.parametrize("fmt", ["jpg", "png", "gif", "webp", "avif"])
def test_damaged_images(fmt: str, inbox: Path, workdir: Path) -> None:
    seed = {
        "jpg": lambda: samples.jpeg_with_exif(96, 64),
        "png": lambda: samples.png_with_text(96, 64),
        "gif": lambda: samples.gif_with_comment(48, 32, frames=3),
        "webp": lambda: samples.webp_bytes(96, 64, exif=True),
        "avif": lambda: samples.avif_bytes(96, 64, exif=True),
    }[fmt]()
    _run_all(_mutations(seed, random.Random(fmt), 60), inbox, workdir)


@pytest.mark.parametrize("container", ["webm", "mp4"])
def test_damaged_videos(container: str, inbox: Path, workdir: Path, tmp_path: Path) -> None:
    options = {"webm": {}, "mp4": {"container": "mp4", "vcodec": "h264", "acodec": "aac"}}[container]
    seed = samples.video(tmp_path / f"seed.{container}", seconds=0.5, size="64x48", **options).read_bytes()  # type: ignore[arg-type]
    _run_all(_mutations(seed, random.Random(container), 12), inbox, workdir)

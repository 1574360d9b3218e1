"""Perceptual hashes: the same picture re-encoded or resized stays close; another is far."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

from imageboard.moderation import phash


def _picture(seed: int, width: int = 320, height: int = 240) -> pyvips.Image:
    """A deterministic picture with structure: bands and blobs depending on the seed."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0], xy[1]
    r = ((x * (3 + seed) + y * (1 + seed % 3)) % 256).cast("uchar")
    g = ((x * y // (40 + seed)) % 256).cast("uchar")
    b = ((y * (5 + seed)) % 256).cast("uchar")
    return r.bandjoin([g, b]).copy(interpretation="srgb")


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    original = _picture(1)
    paths = {
        "png": tmp_path / "a.png",
        "jpeg_small": tmp_path / "a.jpg",
        "other": tmp_path / "b.png",
    }
    original.write_to_file(str(paths["png"]))
    original.resize(0.5).write_to_file(str(paths["jpeg_small"]), Q=60)
    _picture(7).flip("horizontal").write_to_file(str(paths["other"]))
    (tmp_path / "not.png").write_bytes(b"this is not an image")
    paths["broken"] = tmp_path / "not.png"
    return paths


def test_same_picture_is_close_and_another_is_far(images: dict[str, Path]) -> None:
    a = phash.perceptual_hash(images["png"])
    a_small = phash.perceptual_hash(images["jpeg_small"])
    b = phash.perceptual_hash(images["other"])
    assert 0 <= a < 2**64
    assert phash.distance(a, a_small) <= 6
    assert phash.distance(a, b) > 12


def test_not_an_image(images: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="not an image"):
        phash.perceptual_hash(images["broken"])


def test_hash_of_pixels_and_hex() -> None:
    rising = bytes(range(72))  # every pixel brighter than its left neighbour: all ones
    assert phash.hash_pixels(rising) == 2**64 - 1
    assert phash.hash_pixels(bytes(72)) == 0
    assert phash.to_hex(2**64 - 1) == "f" * 16
    assert phash.from_hex("00000000000000ff") == 255
    with pytest.raises(ValueError, match="16 hex digits"):
        phash.from_hex("xyz")
    with pytest.raises(ValueError, match="grey pixels"):
        phash.hash_pixels(b"\x00" * 10)

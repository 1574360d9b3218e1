"""The placeholder thumbnails shipped with the site (spoilered files and audio)."""

from __future__ import annotations

from pathlib import Path

import pytest
import pyvips

import imageboard

STATIC_IMG = Path(imageboard.__file__).parent / "web" / "static" / "img"


@pytest.mark.parametrize("name", ["spoiler.png", "audio.png"])
def test_placeholder_is_a_tiny_png(name: str) -> None:
    path = STATIC_IMG / name
    assert path.stat().st_size < 5 * 1024
    image = pyvips.Image.pngload(str(path))
    assert (image.width, image.height) == (100, 100)
    assert not [field for field in image.get_fields() if field.startswith(("exif", "xmp"))]

"""Perceptual hashes for file bans: a 64-bit difference hash (dHash).

The image is shrunk to 9×8 grey pixels and each bit says whether a pixel is darker than its
right-hand neighbour. Re-encoding, resizing, small colour changes and watermarks flip few
bits, so "the same picture" is a Hamming distance of a few bits, where unrelated pictures
differ in about 32.
"""

from __future__ import annotations

from pathlib import Path

WIDTH, HEIGHT = 9, 8
BITS = (WIDTH - 1) * HEIGHT


def perceptual_hash(path: str | Path) -> int:
    """The dHash of an image file (the first frame of an animation). Blocking: libvips
    decodes the file, so call it from a worker thread. Raises ValueError when the file is
    not an image libvips can read."""
    import pyvips

    try:
        image = pyvips.Image.thumbnail(str(path), WIDTH, height=HEIGHT, size="force")
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        image = image.colourspace("b-w")
        if image.bands > 1:
            image = image.extract_band(0)
        pixels = bytes(image.cast("uchar").write_to_memory())
    except pyvips.Error as exc:
        raise ValueError(f"not an image: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}") from None
    return hash_pixels(pixels, WIDTH, HEIGHT)


def hash_pixels(pixels: bytes, width: int = WIDTH, height: int = HEIGHT) -> int:
    """The dHash of ``width``×``height`` grey pixels, row by row."""
    if len(pixels) != width * height:
        raise ValueError(f"expected {width * height} grey pixels, got {len(pixels)}")
    value = 0
    for row in range(height):
        base = row * width
        for col in range(width - 1):
            value = (value << 1) | (pixels[base + col] < pixels[base + col + 1])
    return value


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def to_hex(value: int) -> str:
    return f"{value & ((1 << BITS) - 1):016x}"


def from_hex(text: str) -> int:
    value = text.strip().lower()
    if len(value) != 16 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("a perceptual hash is 16 hex digits")
    return int(value, 16)

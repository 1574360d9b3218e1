"""The perceptual hash of a picture: a 64-bit difference hash (dHash), kept with every stored
image and video for file bans.

The picture is shrunk to 9×8 grey pixels and each bit says whether a pixel is darker than its
right-hand neighbour. Re-encoding, resizing, small colour changes and watermarks flip few
bits, so "the same picture" is a Hamming distance of a few bits, where unrelated pictures
differ in about 32.

Uploads are hashed from the thumbnail ingest renders anyway (``images.thumbnail``), so the
hash costs no second decode. The thumbnail's box (an opening post's or a reply's) is the only
input besides the file, and shrinking 125 or 250 pixels to 9×8 ends in nearly the same grey
levels: the same file hashes equal through the same box and within a bit or two through the
other, far inside any ban's distance. :func:`perceptual_hash` renders that same thumbnail
(the reply box unless told), so a file on disk hashes as it would when posted.

This module does not load libvips until a file is hashed.
"""

from __future__ import annotations

from pathlib import Path

from imageboard.media.limits import MediaLimits

WIDTH, HEIGHT = 9, 8
BITS = (WIDTH - 1) * HEIGHT
DEFAULT_BOX = MediaLimits().reply_thumb


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


def perceptual_hash(path: str | Path, *, box: int = DEFAULT_BOX) -> int:
    """The dHash of an image file (JPEG, PNG, GIF, WebP or AVIF; the first frame of an
    animation) as ingest takes it from a thumbnail fitting ``box``. Blocking: libvips decodes
    the file, so call it from a worker thread. Raises ValueError when the file is not an
    image the media context reads."""
    from imageboard.media import images

    return images.perceptual_hash(Path(path), box)

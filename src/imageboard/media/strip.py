"""Lossless metadata removal for still and animated images, by walking their containers.

Each ``clean_*`` function parses the whole container (no pixel decoding), checks its
structure, reads the dimensions from the header so decompression bombs are refused before
any decoder runs, and returns the file with metadata removed. The pixel data is copied
byte for byte, so nothing is re-encoded and no quality is lost.

Hostile input is the normal case here: every length is checked against the data before it
is used, and anything inconsistent raises :class:`Malformed` (the file is damaged) or
:class:`HiddenData` (something follows the end of the image: a polyglot).
"""

from __future__ import annotations

from imageboard.media.strip_avif import clean_avif
from imageboard.media.strip_common import TRAILER_TOLERANCE, Cleaned, HiddenData, Malformed, Piece
from imageboard.media.strip_gif import clean_gif
from imageboard.media.strip_jpeg import _jpeg_scan_end as _jpeg_scan_end  # tested on its own
from imageboard.media.strip_jpeg import clean_jpeg
from imageboard.media.strip_png import PNG_SIGNATURE, clean_png
from imageboard.media.strip_webp import clean_webp

__all__ = [
    "PNG_SIGNATURE",
    "TRAILER_TOLERANCE",
    "Cleaned",
    "HiddenData",
    "Malformed",
    "Piece",
    "clean_avif",
    "clean_gif",
    "clean_jpeg",
    "clean_png",
    "clean_webp",
]

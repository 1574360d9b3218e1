"""libvips, configured for untrusted input: only five loaders, bounded memory, and helpers
that decode, re-orient and thumbnail the formats ``detect`` recognised.

Importing this module configures libvips for the whole process (it is a process-wide
library): untrusted loaders blocked, every loader but JPEG/PNG/GIF/WebP/HEIF blocked, no
operation cache, two worker threads.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Read by libvips when it initialises; block_untrusted_set below covers the case where
# pyvips was imported (and libvips initialised) before this module.
os.environ.setdefault("VIPS_BLOCK_UNTRUSTED", "1")

import pyvips  # (must follow the environment variable)

from imageboard.media import phash
from imageboard.media.detect import HEAD_BYTES, identify

# The loader classes (parents of their *File/*Buffer/*Source variants) we call by name.
# Everything else — SVG, PDF, TIFF, matrix/CSV text, UltraHDR, vips native... — stays
# blocked, so no code path can reach a loader we did not choose.
_ALLOWED_LOADERS = (
    "VipsForeignLoadJpeg",
    "VipsForeignLoadPng",
    "VipsForeignLoadNsgif",
    "VipsForeignLoadWebp",
    "VipsForeignLoadHeif",
)

# The operation cache keeps decoded images of past requests alive; uploads are never
# read twice, so caching only costs memory. Two threads: the box is small, and libvips'
# memory use grows with its thread count.
CONCURRENCY = 2
THUMBNAIL_QUALITY = 80
REENCODE_QUALITY = 95  # re-encoding a rotated photo should not visibly lose quality
# Transparent areas of thumbnails become this light neutral grey.
BACKGROUND = 238.0


def _configure() -> None:
    # pyvips hands every libvips message to Python logging; at INFO that is two dozen records
    # per thumbnail ("selected loader", "shrinkv by 8", ...), each taking the GIL from a
    # libvips thread and formatted into the JSON log — a large share of an upload's CPU.
    logging.getLogger("pyvips").setLevel(logging.WARNING)
    pyvips.block_untrusted_set(True)
    pyvips.operation_block_set("VipsForeignLoad", True)
    for name in _ALLOWED_LOADERS:
        pyvips.operation_block_set(name, False)
    pyvips.cache_set_max(0)
    pyvips.cache_set_max_mem(0)
    pyvips.concurrency_set(CONCURRENCY)


_configure()

VipsError = pyvips.Error
Image = Any  # pyvips ships no type information


def _loader(fmt: str) -> Any:
    loaders: dict[str, Any] = {
        "jpg": pyvips.Image.jpegload,
        "png": pyvips.Image.pngload,
        "gif": pyvips.Image.gifload,
        "webp": pyvips.Image.webpload,
        "avif": pyvips.Image.heifload,
    }
    return loaders[fmt]


# How picky decoding is. libjpeg reports damaged or missing data ("Corrupt JPEG data:
# premature end of data segment") only as a warning and fills the gap with grey, so JPEG
# fails on warnings; the other decoders report damage as errors.
_FAIL_ON = {"jpg": "warning"}


def load(path: Path, fmt: str, *, all_frames: bool = False, **options: Any) -> Image:
    """Open an image with the loader for its detected format. Only the header is read
    here; pixels are decoded (sequentially, failing on damage) when they are used."""
    if all_frames:
        options["n"] = -1
    return _loader(fmt)(str(path), access="sequential", fail_on=_FAIL_ON.get(fmt, "error"), **options)


def header(path: Path, fmt: str) -> tuple[int, int]:
    image = load(path, fmt)
    return int(image.width), int(image.height)


def jpeg_header(path: Path) -> tuple[int, int, int]:
    """A JPEG's width, height and EXIF orientation (1, upright, when absent or out of range),
    from one read of its header."""
    image = load(path, "jpg")
    orientation = int(image.get("orientation")) if image.get_typeof("orientation") != 0 else 1
    return int(image.width), int(image.height), orientation if 1 <= orientation <= 8 else 1


def write_upright_jpeg(source: Path, target: Path) -> tuple[int, int]:
    """Apply the EXIF orientation to the pixels and re-encode without metadata (the ICC
    profile is kept so colours stay right). Rotation needs random access to the pixels."""
    image = pyvips.Image.jpegload(str(source), fail_on=_FAIL_ON["jpg"]).autorot()
    # No optimize_coding here: libjpeg would buffer every coefficient of the image for its
    # second pass (~6 bytes per pixel).
    image.jpegsave(str(target), Q=REENCODE_QUALITY, keep=pyvips.enums.ForeignKeep.ICC)
    return int(image.width), int(image.height)


def decode_all_frames(path: Path, fmt: str) -> None:
    """Decode every frame of an animation once, so damage in a late frame is caught now
    rather than in a reader's browser. Raises VipsError on damage."""
    load(path, fmt, all_frames=True).min()


def _open_for_thumbnail(path: Path, fmt: str, width: int, height: int, box: int) -> Image:
    longest = max(width, height)
    if fmt == "jpg":
        # Shrink-on-load: libjpeg decodes at 1/2, 1/4 or 1/8 scale, so a 50 MP photo never
        # exists at full size in memory. Keep at least twice the box for a clean resample.
        shrink = 1
        while shrink < 8 and longest // (shrink * 2) >= 2 * box:
            shrink *= 2
        return load(path, fmt, shrink=shrink)
    if fmt == "webp":
        scale = min(1.0, 2 * box / longest)
        return load(path, fmt, scale=scale) if scale < 1.0 else load(path, fmt)
    return load(path, fmt)


def _to_srgb_jpeg_ready(image: Image) -> Image:
    if image.get_typeof("icc-profile-data") != 0:
        # Embedded profile (Adobe RGB, Display P3, CMYK press profiles...): convert to sRGB,
        # since the thumbnail is written without it.
        image = image.icc_transform("srgb", embedded=True, intent="perceptual")
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    if image.hasalpha():
        image = image.flatten(background=[BACKGROUND] * (image.bands - 1))
    if image.format != "uchar":
        image = image.cast("uchar")
    return image


@dataclass(frozen=True, slots=True)
class Thumbnail:
    width: int
    height: int
    phash: int  # the picture's perceptual hash, taken from the thumbnail's pixels


def _render_thumbnail(path: Path, fmt: str, box: int, size: tuple[int, int] | None = None) -> Image:
    """The first frame fitting ``box``×``box`` (never enlarged), sRGB and flattened, in
    memory: the JPEG and the perceptual hash both read it, and a sequential loader cannot
    be read twice (nor should a file be decoded twice). ``size``: the file's, when known."""
    width, height = size or header(path, fmt)
    image = _open_for_thumbnail(path, fmt, width, height, box)
    thumb = image.thumbnail_image(box, height=box, size="down", no_rotate=True)
    return _to_srgb_jpeg_ready(thumb).copy_memory()


def thumbnail(path: Path, fmt: str, box: int, target: Path, *, size: tuple[int, int] | None = None) -> Thumbnail:
    """Write a JPEG thumbnail of the first frame fitting ``box``×``box``, never enlarged,
    and take the perceptual hash from the same pixels. ``size``: the file's width and
    height when the caller has read them already (else its header is read here)."""
    thumb = _render_thumbnail(path, fmt, box, size)
    thumb.jpegsave(str(target), Q=THUMBNAIL_QUALITY, optimize_coding=True, keep=pyvips.enums.ForeignKeep.NONE)
    return Thumbnail(int(thumb.width), int(thumb.height), _dhash(thumb))


def _dhash(thumb: Image) -> int:
    # The thumbnail is a few hundred pixels a side and already in memory, so this costs
    # about 2 ms, nearly all of it libvips setting up the operations, not computing.
    small = thumb.thumbnail_image(phash.WIDTH, height=phash.HEIGHT, size="force", no_rotate=True)
    small = small.colourspace("b-w")  # sRGB uchar in, one uchar band out
    if small.bands > 1:
        small = small.extract_band(0)
    if small.format != "uchar":
        small = small.cast("uchar")
    return phash.hash_pixels(bytes(small.write_to_memory()))


def perceptual_hash(path: Path, box: int) -> int:
    """The perceptual hash of an image file as ingest takes it (see ``phash``); raises
    ValueError when it is not an image we read."""
    with path.open("rb") as stream:
        fmt = identify(stream.read(HEAD_BYTES)).format
    if fmt is None or fmt.kind != "image":
        raise ValueError("not an image: JPEG, PNG, GIF, WebP and AVIF files can be hashed")
    try:
        thumb = _render_thumbnail(path, fmt.key, box)
        # Ingest hashes the upright copy it stores (write_upright_jpeg); a camera's file still
        # carries its EXIF orientation, so turn the thumbnail the same way.
        return _dhash(thumb.autorot() if fmt.key == "jpg" else thumb)
    except VipsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "it could not be decoded"
        raise ValueError(f"not an image: {first}") from None

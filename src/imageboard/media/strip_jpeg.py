"""Metadata removal for JPEG: APPn and comment segments out, pixel data copied."""

from __future__ import annotations

import re
import struct

from imageboard.media.strip_common import Cleaned, Malformed, Piece, _check_trailer

_SOF_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_PROGRESSIVE_SOF = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_RST = frozenset(range(0xD0, 0xD8))


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _jpeg_coefficient_bytes(width: int, height: int, components: list[tuple[int, int]]) -> int:
    """Size of the DCT coefficient arrays libjpeg keeps for a whole progressive image
    (64 coefficients of 2 bytes per 8×8 block of each component)."""
    hmax = max(h for h, _ in components)
    vmax = max(v for _, v in components)
    total = 0
    for h, v in components:
        blocks_w = _ceil_div(_ceil_div(width * h, hmax), 8)
        blocks_h = _ceil_div(_ceil_div(height * v, vmax), 8)
        total += blocks_w * blocks_h * 64 * 2
    return total


# The byte 0xFF inside entropy-coded data is followed by 0x00 (a stuffed byte), a restart
# marker or another 0xFF (fill); anything else after it is the marker that ends the scan.
# A regular expression finds it in C: a loop over every 0xFF in Python cost ~100 ms for a
# 5 MB photo, more than decoding its thumbnail.
_SCAN_END = re.compile(rb"\xff(?=[^\x00\xd0-\xd7\xff])")


def _jpeg_scan_end(data: bytes, pos: int) -> int:
    """Offset of the marker that ends the entropy-coded data starting at ``pos`` (the last
    0xFF before the marker's code, when fill bytes precede it)."""
    found = _SCAN_END.search(data, pos)
    if found is None:
        raise Malformed("the image data ends early")
    return found.start()


def _jpeg_app0(payload: memoryview) -> bytes | None:
    """The JFIF header without its embedded thumbnail (which would show the uncropped
    original); other APP0 segments (JFXX thumbnails, AVI1) are dropped."""
    if bytes(payload[:5]) != b"JFIF\x00" or len(payload) < 14:
        return None
    core = bytes(payload[:12]) + b"\x00\x00"  # version, units, densities; no thumbnail
    return b"\xff\xe0" + struct.pack(">H", len(core) + 2) + core


def clean_jpeg(data: bytes) -> Cleaned:
    view = memoryview(data)
    n = len(data)
    if not data.startswith(b"\xff\xd8"):
        raise Malformed("not a JPEG")
    out: list[Piece] = [b"\xff\xd8"]
    removed: list[str] = []
    width = height = 0
    components: list[tuple[int, int]] = []
    progressive = False
    scans = 0
    pos = 2
    while True:
        if pos >= n:
            raise Malformed("the image data ends early")
        if data[pos] != 0xFF:
            raise Malformed("unexpected bytes between segments")
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise Malformed("the image data ends early")
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            out.append(b"\xff\xd9")
            break
        if marker in _RST or marker == 0x01:  # stand-alone markers, no length
            out.append(bytes((0xFF, marker)))
            continue
        if marker in (0x00, 0xD8):
            raise Malformed("a misplaced marker")
        if pos + 2 > n:
            raise Malformed("the image data ends early")
        length = struct.unpack_from(">H", data, pos)[0]
        if length < 2 or pos + length > n:
            raise Malformed("a segment runs past the end of the file")
        payload = view[pos + 2 : pos + length]
        segment = view[pos - 2 : pos + length]
        pos += length

        if marker == 0xE0:
            app0 = _jpeg_app0(payload)
            if app0 is None:
                removed.append("APP0")
            else:
                out.append(app0)
        elif marker == 0xE2 and bytes(payload[:12]) == b"ICC_PROFILE\x00":
            out.append(segment)  # colour profile: needed to show the colours right
        elif marker == 0xEE and bytes(payload[:5]) == b"Adobe":
            out.append(segment)  # colour transform flag: CMYK/YCCK files decode wrongly without it
        elif 0xE0 <= marker <= 0xEF or marker == 0xFE:
            # APP1 EXIF/XMP (GPS, camera, thumbnails), APP13 IPTC, MPF, COM comments, ...
            removed.append("COM" if marker == 0xFE else f"APP{marker - 0xE0}")
        elif marker in _SOF_MARKERS:
            if width:
                raise Malformed("more than one frame header")
            if len(payload) < 6:
                raise Malformed("a short frame header")
            _, height, width, count = struct.unpack_from(">BHHB", payload, 0)
            if height == 0 or width == 0:
                raise Malformed("the frame header has no size")
            if not 1 <= count <= 4 or len(payload) < 6 + 3 * count:
                raise Malformed("a bad frame header")
            for i in range(count):
                sampling = payload[6 + 3 * i + 1]
                h, v = sampling >> 4, sampling & 0x0F
                if not (1 <= h <= 4 and 1 <= v <= 4):
                    raise Malformed("a bad frame header")
                components.append((h, v))
            progressive = marker in _PROGRESSIVE_SOF
            out.append(segment)
        elif marker == 0xDA:  # start of scan, followed by entropy-coded data
            if not width:
                raise Malformed("image data before the frame header")
            scans += 1
            end = _jpeg_scan_end(data, pos)
            out.append(segment)
            out.append(view[pos:end])
            pos = end
        else:  # tables (DQT, DHT, DRI, ...) and anything the decoder must judge
            out.append(segment)
    if not scans:
        raise Malformed("no image data")
    rest = data[pos:]
    # Phones append more images after the first (MPF: depth maps, gain maps) and Samsung
    # appends a "SEFT" trailer; those are dropped with the rest. Other data is refused.
    if rest.startswith(b"\xff\xd8\xff") or rest.endswith(b"SEFT"):
        removed.append("trailer")
    else:
        _check_trailer(data, pos)
    buffer_bytes = _jpeg_coefficient_bytes(width, height, components) if progressive else 0
    return Cleaned(out, width, height, 1, buffer_bytes, removed)

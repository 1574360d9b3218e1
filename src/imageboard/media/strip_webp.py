"""Metadata removal for WebP: EXIF, XMP and unknown chunks out, header flags fixed."""

from __future__ import annotations

import struct

from imageboard.media.strip_common import Cleaned, Malformed, Piece, _check_trailer

# Everything but EXIF, XMP and unknown chunks.
_WEBP_KEEP = frozenset({b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ANIM", b"ANMF", b"ICCP"})
_VP8X_EXIF = 0x08
_VP8X_XMP = 0x04


def _u24(data: bytes | memoryview, pos: int) -> int:
    return int(data[pos]) | int(data[pos + 1]) << 8 | int(data[pos + 2]) << 16


def _vp8_size(payload: memoryview) -> tuple[int, int]:
    if len(payload) < 10 or bytes(payload[3:6]) != b"\x9d\x01\x2a":
        raise Malformed("a bad VP8 frame")
    w, h = struct.unpack_from("<HH", payload, 6)
    return w & 0x3FFF, h & 0x3FFF


def _vp8l_size(payload: memoryview) -> tuple[int, int]:
    if len(payload) < 5 or payload[0] != 0x2F:
        raise Malformed("a bad VP8L frame")
    bits = struct.unpack_from("<I", payload, 1)[0]
    return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1


def _webp_chunk(view: memoryview, pos: int, end: int, size: int) -> list[Piece]:
    """A chunk with its padding byte (some encoders leave out the last one)."""
    return [view[pos:end], b"\x00"] if size & 1 else [view[pos:end]]


def clean_webp(data: bytes) -> Cleaned:
    view = memoryview(data)
    n = len(data)
    if n < 20 or not data.startswith(b"RIFF") or data[8:12] != b"WEBP":
        raise Malformed("not a WebP")
    riff_end = 8 + struct.unpack_from("<I", data, 4)[0]
    if riff_end > n:
        raise Malformed("the image data ends early")
    kept: list[Piece] = []
    removed: list[str] = []
    width = height = 0
    frames = 0
    vp8x_flags: int | None = None
    vp8x_rest = b""
    pos = 12
    first = True
    while pos < riff_end:
        if pos + 8 > riff_end:
            raise Malformed("a chunk runs past the end of the file")
        fourcc = data[pos : pos + 4]
        size = struct.unpack_from("<I", data, pos + 4)[0]
        end = pos + 8 + size
        padded = end + (size & 1)
        if end > riff_end:
            raise Malformed("a chunk runs past the end of the file")
        payload = view[pos + 8 : end]
        if first:
            if fourcc == b"VP8 ":
                width, height = _vp8_size(payload)
            elif fourcc == b"VP8L":
                width, height = _vp8l_size(payload)
            elif fourcc == b"VP8X":
                if size < 10:
                    raise Malformed("a bad extended header")
                vp8x_flags = payload[0]
                vp8x_rest = bytes(payload[1:])
                width, height = _u24(payload, 4) + 1, _u24(payload, 7) + 1
            else:
                raise Malformed("no image header")
            first = False
            if fourcc != b"VP8X":
                kept.extend(_webp_chunk(view, pos, end, size))
                frames = 1
        elif fourcc in _WEBP_KEEP:
            if fourcc == b"ANMF":
                if size < 16:
                    raise Malformed("a bad animation frame")
                x, y = _u24(payload, 0) * 2, _u24(payload, 3) * 2
                fw, fh = _u24(payload, 6) + 1, _u24(payload, 9) + 1
                if x + fw > width or y + fh > height:
                    raise Malformed("an animation frame outside the image")
                frames += 1
            elif fourcc in (b"VP8 ", b"VP8L"):
                frames = max(frames, 1)
            kept.extend(_webp_chunk(view, pos, end, size))
        else:
            removed.append(fourcc.decode("latin-1").strip())
        pos = padded
    if frames == 0 or width == 0 or height == 0:
        raise Malformed("no image data")
    _check_trailer(data, riff_end)
    body: list[Piece] = []
    if vp8x_flags is not None:
        flags = vp8x_flags & ~(_VP8X_EXIF | _VP8X_XMP)
        vp8x_payload = bytes((flags,)) + vp8x_rest
        body.append(b"VP8X" + struct.pack("<I", len(vp8x_payload)) + vp8x_payload)
        if len(vp8x_payload) & 1:
            body.append(b"\x00")
    body.extend(kept)
    riff_size = 4 + sum(len(piece) for piece in body)
    out: list[Piece] = [b"RIFF" + struct.pack("<I", riff_size) + b"WEBP", *body]
    return Cleaned(out, width, height, frames, 0, removed)

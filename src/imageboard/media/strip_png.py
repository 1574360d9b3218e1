"""Metadata removal for PNG and APNG: text and private chunks out, checksums verified."""

from __future__ import annotations

import struct
import zlib

from imageboard.media.strip_common import Cleaned, Malformed, Piece, _check_trailer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Ancillary chunks that change how the image looks, and the APNG animation chunks. The
# rest (tEXt, zTXt, iTXt, tIME, eXIf and private chunks) is dropped.
_PNG_KEEP = frozenset(
    {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"pHYs", b"sBIT", b"bKGD", b"cICP", b"mDCV", b"cLLI",
     b"acTL", b"fcTL", b"fdAT"}
)  # fmt: skip
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}  # palette images may expand to RGBA


def _is_chunk_type(ctype: bytes) -> bool:
    return all(65 <= b <= 90 or 97 <= b <= 122 for b in ctype)


def clean_png(data: bytes) -> Cleaned:
    view = memoryview(data)
    n = len(data)
    if not data.startswith(PNG_SIGNATURE):
        raise Malformed("not a PNG")
    out: list[Piece] = [PNG_SIGNATURE]
    removed: list[str] = []
    width = height = 0
    interlaced = False
    bytes_per_pixel = 0
    frames = 1
    has_idat = False
    pos = 8
    while True:
        if pos + 12 > n:
            raise Malformed("the image data ends early")
        length, ctype = struct.unpack_from(">I4s", data, pos)
        if length > 0x7FFFFFFF or pos + 12 + length > n:
            raise Malformed("a chunk runs past the end of the file")
        if not _is_chunk_type(ctype):
            raise Malformed("a chunk with an invalid name")
        crc = struct.unpack_from(">I", data, pos + 8 + length)[0]
        if zlib.crc32(view[pos + 4 : pos + 8 + length]) != crc:
            raise Malformed(f"a checksum error in the {ctype.decode('ascii')} chunk")
        body = view[pos + 8 : pos + 8 + length]
        chunk = view[pos : pos + 12 + length]
        pos += 12 + length
        if not width and ctype != b"IHDR":
            raise Malformed("the header chunk is missing")
        if ctype == b"IHDR":
            if width or length != 13:
                raise Malformed("a bad header chunk")
            width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
            if not (1 <= width <= 0x7FFFFFFF and 1 <= height <= 0x7FFFFFFF):
                raise Malformed("a bad image size")
            if depth not in _PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
                raise Malformed("a bad header chunk")
            interlaced = interlace == 1
            bytes_per_pixel = _PNG_CHANNELS[colour] * (2 if depth == 16 else 1)
            out.append(chunk)
        elif ctype == b"IEND":
            out.append(chunk)
            break
        elif ctype in (b"PLTE", b"IDAT"):
            has_idat = has_idat or ctype == b"IDAT"
            out.append(chunk)
        elif 65 <= ctype[0] <= 90:
            # An unknown critical chunk (upper-case first letter): decoders must refuse it.
            raise Malformed(f"an unsupported {ctype.decode('ascii')} chunk")
        elif ctype in _PNG_KEEP:
            if ctype == b"acTL":
                if length != 8:
                    raise Malformed("a bad animation chunk")
                frames = max(1, struct.unpack_from(">I", body, 0)[0])
            elif ctype == b"fcTL":
                if length != 26:
                    raise Malformed("a bad animation frame chunk")
                _, fw, fh, fx, fy = struct.unpack_from(">IIIII", body, 0)
                if fw == 0 or fh == 0 or fx + fw > width or fy + fh > height:
                    raise Malformed("an animation frame outside the image")
            out.append(chunk)
        else:
            removed.append(ctype.decode("ascii"))
    if not has_idat:
        raise Malformed("no image data")
    _check_trailer(data, pos)
    # libspng decodes plain PNGs row by row but needs the whole image for interlaced ones.
    buffer_bytes = width * height * bytes_per_pixel if interlaced else 0
    return Cleaned(out, width, height, frames, buffer_bytes, removed)

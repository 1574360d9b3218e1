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

import re
import struct
import zlib
from dataclasses import dataclass, field

Piece = bytes | memoryview


class Malformed(Exception):
    """The container is broken; the argument says how, in words for people."""


class HiddenData(Exception):
    """Data follows the end of the image (e.g. HTML or a ZIP appended: a polyglot)."""


@dataclass(slots=True)
class Cleaned:
    pieces: list[Piece]  # the cleaned file, in order (slices of the input where possible)
    width: int
    height: int
    frames: int = 1
    # Memory a decoder must hold at once for this file beyond its streaming buffers
    # (progressive JPEG coefficients, interlaced PNG rows); 0 when it decodes in strips.
    buffer_bytes: int = 0
    removed: list[str] = field(default_factory=list)  # what was taken out, for logs and tests

    @property
    def size(self) -> int:
        return sum(len(piece) for piece in self.pieces)

    def tobytes(self) -> bytes:
        return b"".join(self.pieces)


# Padding some encoders leave after the end marker; up to this much of it is dropped
# silently. Anything else after the end is refused as hidden data.
TRAILER_TOLERANCE = 4096
_PADDING = b"\x00\xff \t\r\n"


def _check_trailer(data: bytes, end: int) -> None:
    rest = data[end:]
    if rest and (len(rest) > TRAILER_TOLERANCE or rest.strip(_PADDING)):
        raise HiddenData


# --------------------------------------------------------------------------- JPEG

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


# --------------------------------------------------------------------------- PNG

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


# --------------------------------------------------------------------------- GIF

# Application extensions that only say how often to loop; every other one (XMP, ICC
# profiles, private data) is dropped.
_GIF_LOOPING = frozenset({b"NETSCAPE2.0", b"ANIMEXTS1.0"})


def _gif_sub_blocks_end(data: bytes, pos: int) -> int:
    n = len(data)
    while True:
        if pos >= n:
            raise Malformed("the image data ends early")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def clean_gif(data: bytes) -> Cleaned:
    view = memoryview(data)
    n = len(data)
    if n < 13 or not data.startswith((b"GIF87a", b"GIF89a")):
        raise Malformed("not a GIF")
    width, height, packed = struct.unpack_from("<HHB", data, 6)
    pos = 13
    if packed & 0x80:
        pos += 3 << ((packed & 7) + 1)
    if pos > n:
        raise Malformed("the image data ends early")
    out: list[Piece] = [view[:pos]]
    removed: list[str] = []
    # Decoders grow the canvas to fit frames that stick out of it, so the size that counts
    # for the bomb check is the union of the screen and every frame.
    canvas_w, canvas_h = width, height
    frames = 0
    pending_control: memoryview | None = None  # applies to the next image (or plain text)
    while True:
        if pos >= n:
            raise Malformed("the image data ends early (no trailer)")
        introducer = data[pos]
        if introducer == 0x3B:  # trailer
            pos += 1
            break
        if introducer == 0x21:
            if pos + 2 > n:
                raise Malformed("the image data ends early")
            label = data[pos + 1]
            end = _gif_sub_blocks_end(data, pos + 2)
            block = view[pos:end]
            if label == 0xF9:  # graphic control: delay, disposal, transparency
                if pending_control is not None:
                    out.append(pending_control)
                pending_control = block
            elif label == 0xFF and data[pos + 2] == 11 and bytes(data[pos + 3 : pos + 14]) in _GIF_LOOPING:
                out.append(block)
            elif label == 0x01:  # plain text: never rendered by browsers; drop its control too
                pending_control = None
                removed.append("plain text")
            else:
                removed.append("comment" if label == 0xFE else "application" if label == 0xFF else "extension")
            pos = end
        elif introducer == 0x2C:
            if pos + 10 > n:
                raise Malformed("the image data ends early")
            left, top, frame_w, frame_h, frame_packed = struct.unpack_from("<HHHHB", data, pos + 1)
            canvas_w = max(canvas_w, left + frame_w)
            canvas_h = max(canvas_h, top + frame_h)
            start = pos
            pos += 10
            if frame_packed & 0x80:
                pos += 3 << ((frame_packed & 7) + 1)
            if pos >= n:
                raise Malformed("the image data ends early")
            if not 1 <= data[pos] <= 11:
                raise Malformed("a bad compression code size")
            pos = _gif_sub_blocks_end(data, pos + 1)
            if pending_control is not None:
                out.append(pending_control)
                pending_control = None
            out.append(view[start:pos])
            frames += 1
        else:
            raise Malformed("an unknown block")
    if frames == 0:
        raise Malformed("no image data")
    out.append(b"\x3b")
    _check_trailer(data, pos)
    if canvas_w == 0 or canvas_h == 0:
        raise Malformed("the image has no size")
    return Cleaned(out, canvas_w, canvas_h, frames, 0, removed)


# --------------------------------------------------------------------------- WebP

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


# --------------------------------------------------------------------------- AVIF

# AVIF (ISO base media) is neither re-encoded (slow, lossy, and memory-hungry for large
# images) nor refused when it carries metadata: metadata is neutralised in place instead.
# Items holding EXIF, XMP (mime) or URIs get their bytes zeroed and a type no reader
# knows; metadata boxes (udta, xml, uuid, and any top-level box we do not need) are
# renamed "free" and zeroed. Every offset stays valid because nothing moves.
_AVIF_METADATA_ITEMS = frozenset({b"Exif", b"mime", b"uri "})
_NEUTRAL_ITEM = b"free"
_AVIF_TOP_KEEP = frozenset({b"ftyp", b"meta", b"mdat", b"moov"})


@dataclass(slots=True)
class _Box:
    start: int
    type: bytes
    body: int  # offset of the payload
    end: int


def _boxes(buf: bytearray, start: int, end: int) -> list[_Box]:
    boxes: list[_Box] = []
    pos = start
    while pos < end:
        if pos + 8 > end:
            raise Malformed("a box runs past its container")
        size, btype = struct.unpack_from(">I4s", buf, pos)
        body = pos + 8
        if size == 1:
            if pos + 16 > end:
                raise Malformed("a box runs past its container")
            size = struct.unpack_from(">Q", buf, pos + 8)[0]
            body = pos + 16
        elif size == 0:
            size = end - pos
        if size < body - pos or pos + size > end:
            raise Malformed("a box runs past its container")
        boxes.append(_Box(pos, btype, body, pos + size))
        pos += size
    return boxes


def _blank(buf: bytearray, box: _Box, removed: list[str]) -> None:
    removed.append(box.type.decode("latin-1").strip())
    buf[box.start + 4 : box.start + 8] = b"free"
    buf[box.body : box.end] = bytes(box.end - box.body)


def _read_uint(buf: bytearray, pos: int, size: int, limit: int) -> tuple[int, int]:
    if size not in (0, 4, 8):
        raise Malformed("a bad item location table")
    if pos + size > limit:
        raise Malformed("a bad item location table")
    if size == 0:
        return 0, pos
    return int.from_bytes(buf[pos : pos + size], "big"), pos + size


def _item_types(buf: bytearray, box: _Box) -> dict[int, tuple[bytes, int]]:
    """item id -> (item type, offset of the type in the file)."""
    if box.body + 4 > box.end:
        raise Malformed("a bad item table")
    version = buf[box.body]
    pos = box.body + 4 + (2 if version == 0 else 4)
    types: dict[int, tuple[bytes, int]] = {}
    for entry in _boxes(buf, pos, box.end):
        if entry.type != b"infe":
            continue
        if entry.body + 4 > entry.end:
            raise Malformed("a bad item entry")
        infe_version = buf[entry.body]
        if infe_version < 2:
            raise Malformed("an old-style item entry")
        p = entry.body + 4
        id_size = 2 if infe_version == 2 else 4
        if p + id_size + 6 > entry.end:
            raise Malformed("a bad item entry")
        item_id = int.from_bytes(buf[p : p + id_size], "big")
        type_at = p + id_size + 2
        types[item_id] = (bytes(buf[type_at : type_at + 4]), type_at)
    return types


def _item_extents(buf: bytearray, box: _Box) -> dict[int, tuple[int, int, list[tuple[int, int]]]]:
    """item id -> (construction method, data reference index, [(offset, length)])."""
    limit = box.end
    if box.body + 8 > limit:
        raise Malformed("a bad item location table")
    version = buf[box.body]
    if version > 2:
        raise Malformed("an unknown item location table")
    pos = box.body + 4
    offset_size, length_size = buf[pos] >> 4, buf[pos] & 0x0F
    base_size, index_size = buf[pos + 1] >> 4, buf[pos + 1] & 0x0F
    if version == 0:
        index_size = 0
    pos += 2
    count, pos = _read_uint(buf, pos, 4, limit) if version == 2 else (struct.unpack_from(">H", buf, pos)[0], pos + 2)
    items: dict[int, tuple[int, int, list[tuple[int, int]]]] = {}
    for _ in range(count):
        if version == 2:
            item_id, pos = _read_uint(buf, pos, 4, limit)
        else:
            if pos + 2 > limit:
                raise Malformed("a bad item location table")
            item_id, pos = struct.unpack_from(">H", buf, pos)[0], pos + 2
        method = 0
        if version in (1, 2):
            if pos + 2 > limit:
                raise Malformed("a bad item location table")
            method = struct.unpack_from(">H", buf, pos)[0] & 0x0F
            pos += 2
        if pos + 2 > limit:
            raise Malformed("a bad item location table")
        reference = struct.unpack_from(">H", buf, pos)[0]
        base, pos = _read_uint(buf, pos + 2, base_size, limit)
        if pos + 2 > limit:
            raise Malformed("a bad item location table")
        extent_count = struct.unpack_from(">H", buf, pos)[0]
        pos += 2
        extents: list[tuple[int, int]] = []
        for _ in range(extent_count):
            if index_size:
                _, pos = _read_uint(buf, pos, index_size, limit)
            offset, pos = _read_uint(buf, pos, offset_size, limit)
            length, pos = _read_uint(buf, pos, length_size, limit)
            extents.append((base + offset, length))
        items[item_id] = (method, reference, extents)
    return items


def _clean_avif_meta(buf: bytearray, meta: _Box, removed: list[str]) -> None:
    children = _boxes(buf, meta.body + 4, meta.end)  # meta is a FullBox
    types: dict[int, tuple[bytes, int]] = {}
    locations: dict[int, tuple[int, int, list[tuple[int, int]]]] = {}
    idat: _Box | None = None
    for child in children:
        if child.type == b"iinf":
            types = _item_types(buf, child)
        elif child.type == b"iloc":
            locations = _item_extents(buf, child)
        elif child.type == b"idat":
            idat = child
        elif child.type in (b"xml ", b"bxml", b"udta", b"uuid"):
            _blank(buf, child, removed)
    for item_id, (item_type, type_at) in types.items():
        if item_type not in _AVIF_METADATA_ITEMS:
            continue
        # Readers skip items of a type they do not know: renamed, the item is not even
        # seen as empty metadata.
        buf[type_at : type_at + 4] = _NEUTRAL_ITEM
        removed.append(item_type.decode("latin-1").strip())
        if item_id not in locations:
            continue
        method, reference, extents = locations[item_id]
        if reference != 0:
            raise Malformed("metadata stored in another file")
        if method == 0:
            base, limit = 0, len(buf)
        elif method == 1 and idat is not None:
            base, limit = idat.body, idat.end
        else:
            raise Malformed("an unsupported metadata layout")
        for offset, length in extents:
            start = base + offset
            if length == 0 or start + length > limit:
                raise Malformed("metadata outside the file")
            buf[start : start + length] = bytes(length)


def _clean_avif_moov(buf: bytearray, box: _Box, removed: list[str]) -> None:
    """Image sequences: user data (location, titles) lives in moov/udta and trak/udta."""
    for child in _boxes(buf, box.body, box.end):
        if child.type in (b"udta", b"meta", b"uuid"):
            _blank(buf, child, removed)
        elif child.type == b"trak":
            _clean_avif_moov(buf, child, removed)


def clean_avif(data: bytes) -> Cleaned:
    """Neutralise metadata in an AVIF. The size comes from the decoder's header read, so
    ``width`` and ``height`` are 0 here."""
    buf = bytearray(data)
    removed: list[str] = []
    n = len(buf)
    pos = 0
    seen: set[bytes] = set()
    while pos < n:
        try:
            (box,) = _boxes(buf, pos, pos + _box_length(buf, pos, n))
        except Malformed:
            # Not a box: a truncated file if the image is incomplete, else an appendage.
            if {b"ftyp", b"meta", b"mdat"} <= seen:
                _check_trailer(data, pos)
                del buf[pos:]
                break
            raise
        if not seen and box.type != b"ftyp":
            raise Malformed("not an AVIF")
        seen.add(box.type)
        if box.type == b"meta":
            _clean_avif_meta(buf, box, removed)
        elif box.type == b"moov":
            _clean_avif_moov(buf, box, removed)
        elif box.type not in _AVIF_TOP_KEEP:
            _blank(buf, box, removed)
        pos = box.end
    if b"meta" not in seen:
        raise Malformed("no image data")
    return Cleaned([bytes(buf)], 0, 0, 1, 0, removed)


def _box_length(buf: bytearray, pos: int, n: int) -> int:
    """Declared length of the box at ``pos`` (validated by ``_boxes``)."""
    if pos + 8 > n:
        raise Malformed("a box runs past the end of the file")
    size = int.from_bytes(buf[pos : pos + 4], "big")
    if size == 1:
        if pos + 16 > n:
            raise Malformed("a box runs past the end of the file")
        size = int.from_bytes(buf[pos + 8 : pos + 16], "big")
    elif size == 0:
        size = n - pos
    if size < 8 or pos + size > n:
        raise Malformed("a box runs past the end of the file")
    return size

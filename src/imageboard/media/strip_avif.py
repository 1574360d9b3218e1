"""Metadata neutralised in place for AVIF (ISO base media boxes)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from imageboard.media.strip_common import Cleaned, Malformed, _check_trailer

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

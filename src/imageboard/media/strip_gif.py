"""Metadata removal for GIF: comments and application extensions out."""

from __future__ import annotations

import struct

from imageboard.media.strip_common import Cleaned, Malformed, Piece, _check_trailer

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

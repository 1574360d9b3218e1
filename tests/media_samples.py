"""Sample media generated at test time (no binary files in the repository).

Images come from libvips, videos and audio from the ffmpeg binary of imageio-ffmpeg;
metadata, polyglots and decompression bombs are then built byte by byte with ``struct``,
so each test states exactly what the file holds.
"""

from __future__ import annotations

import io
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pyvips

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
SECRET = b"SecretCam-4711"  # the camera make written into sample metadata
SECRET_PLACE = "+48.8583+002.2945/"  # a location written into sample video metadata


# ----------------------------------------------------------------------------- pixels


def picture(width: int, height: int, *, alpha: bool = False) -> Any:
    """A smooth, deterministic colour picture (compresses well, decodes anywhere)."""
    xyz = pyvips.Image.xyz(width, height)
    red = (xyz[0] * 255 / max(width - 1, 1)).cast("uchar")
    green = (xyz[1] * 255 / max(height - 1, 1)).cast("uchar")
    blue = ((xyz[0] + xyz[1]) % 256).cast("uchar")
    image = red.bandjoin([green, blue])
    if alpha:
        image = image.bandjoin((xyz[0] * 255 / max(width - 1, 1)).cast("uchar"))
    return image.copy(interpretation="srgb")


def animation(width: int, height: int, frames: int) -> Any:
    """Frames of different colours stacked vertically, as libvips represents animations."""
    pages = [
        (pyvips.Image.black(width, height, bands=3) + colour).cast("uchar")
        for colour in ([(40 * i) % 256, 128, (255 - 30 * i) % 256] for i in range(frames))
    ]
    image = pyvips.Image.arrayjoin(pages, across=1).copy(interpretation="srgb")
    image.set_type(pyvips.GValue.gint_type, "page-height", height)
    image.set_type(pyvips.GValue.array_int_type, "delay", [100] * frames)
    image.set_type(pyvips.GValue.gint_type, "loop", 0)
    return image


# ----------------------------------------------------------------------------- EXIF


def _ifd(entries: list[tuple[int, int, int, bytes]], start: int, next_ifd: int = 0) -> bytes:
    """A big-endian TIFF IFD at offset ``start``; values over 4 bytes go right after it."""
    count = len(entries)
    data_at = start + 2 + 12 * count + 4
    head = struct.pack(">H", count)
    tail = b""
    for tag, kind, n, value in entries:
        if len(value) <= 4:
            head += struct.pack(">HHI", tag, kind, n) + value.ljust(4, b"\x00")
        else:
            head += struct.pack(">HHII", tag, kind, n, data_at + len(tail))
            tail += value + (b"\x00" if len(value) % 2 else b"")
    return head + struct.pack(">I", next_ifd) + tail


def _rational(*values: tuple[int, int]) -> bytes:
    return b"".join(struct.pack(">II", a, b) for a, b in values)


def exif_blob(*, orientation: int = 1, gps: bool = True) -> bytes:
    """EXIF (with the "Exif\\0\\0" prefix) holding a camera make, an orientation and a GPS
    position — the things a poster must not give away by accident."""
    make = SECRET + b"\x00"
    gps_entries = [
        (0x0001, 2, 2, b"N\x00"),
        (0x0002, 5, 3, _rational((48, 1), (51, 1), (2950, 100))),
        (0x0003, 2, 2, b"E\x00"),
        (0x0004, 5, 3, _rational((2, 1), (17, 1), (4020, 100))),
    ]
    # IFD0 layout is fixed (3 entries), so its size is known before the GPS IFD offset.
    ifd0_size = len(_ifd([(0x010F, 2, len(make), make), (0x0112, 3, 1, b""), (0x8825, 4, 1, b"")], 8))
    gps_at = 8 + ifd0_size
    ifd0 = _ifd(
        [
            (0x010F, 2, len(make), make),
            (0x0112, 3, 1, struct.pack(">H", orientation)),
            (0x8825, 4, 1, struct.pack(">I", gps_at if gps else 0)),
        ],
        8,
    )
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0
    if gps:
        tiff += _ifd(gps_entries, gps_at)
    return b"Exif\x00\x00" + tiff


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def insert_after_soi(jpeg: bytes, *segments: bytes) -> bytes:
    assert jpeg.startswith(b"\xff\xd8")
    return jpeg[:2] + b"".join(segments) + jpeg[2:]


# ----------------------------------------------------------------------------- images


def jpeg_bytes(width: int = 640, height: int = 480, *, quality: int = 85, progressive: bool = False) -> bytes:
    data: bytes = picture(width, height).jpegsave_buffer(
        Q=quality, interlace=progressive, keep=pyvips.enums.ForeignKeep.NONE
    )
    return data


def jpeg_with_exif(width: int = 640, height: int = 480, *, orientation: int = 1) -> bytes:
    """A JPEG carrying EXIF with GPS, an XMP packet, an IPTC block and a comment."""
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description City='" + SECRET + b"'/></x:xmpmeta>"
    iptc = b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x10\x1c\x02\x5a\x00\x0c" + SECRET[:12]
    return insert_after_soi(
        jpeg_bytes(width, height),
        jpeg_segment(0xE1, exif_blob(orientation=orientation)),
        jpeg_segment(0xE1, xmp),
        jpeg_segment(0xED, iptc),
        jpeg_segment(0xFE, b"comment: " + SECRET),
    )


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def insert_png_chunks(png: bytes, *chunks: bytes) -> bytes:
    """Insert chunks right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    return png[:33] + b"".join(chunks) + png[33:]


def png_bytes(width: int = 640, height: int = 480, *, alpha: bool = False, interlace: bool = False) -> bytes:
    data: bytes = picture(width, height, alpha=alpha).pngsave_buffer(
        interlace=interlace, compression=1, keep=pyvips.enums.ForeignKeep.NONE
    )
    return data


def png_with_text(width: int = 320, height: int = 240) -> bytes:
    return insert_png_chunks(
        png_bytes(width, height),
        png_chunk(b"gAMA", struct.pack(">I", 45455)),
        png_chunk(b"tEXt", b"Comment\x00" + SECRET),
        png_chunk(b"zTXt", b"Author\x00\x00" + zlib.compress(SECRET)),
        png_chunk(b"iTXt", b"Location\x00\x00\x00\x00\x00" + SECRET),
        png_chunk(b"tIME", struct.pack(">HBBBBB", 2026, 11, 28, 12, 0, 0)),
        png_chunk(b"eXIf", exif_blob()[6:]),
    )


def gif_bytes(width: int = 320, height: int = 240, frames: int = 1) -> bytes:
    image = animation(width, height, frames) if frames > 1 else picture(width, height)
    data: bytes = image.gifsave_buffer(effort=1, keep=pyvips.enums.ForeignKeep.NONE)
    return data


def gif_sub_blocks(data: bytes) -> bytes:
    out = b""
    for i in range(0, len(data), 255):
        piece = data[i : i + 255]
        out += bytes((len(piece),)) + piece
    return out + b"\x00"


def gif_header_end(gif: bytes) -> int:
    """Offset just after the logical screen descriptor and global colour table."""
    packed = gif[10]
    return 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)


def gif_with_comment(width: int = 320, height: int = 240, frames: int = 1) -> bytes:
    gif = gif_bytes(width, height, frames)
    at = gif_header_end(gif)
    comment = b"\x21\xfe" + gif_sub_blocks(b"comment: " + SECRET)
    xmp = b"\x21\xff\x0bXMP DataXMP" + gif_sub_blocks(b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>")
    return gif[:at] + comment + xmp + gif[at:]


def webp_bytes(width: int = 320, height: int = 240, *, frames: int = 1, exif: bool = False) -> bytes:
    image = animation(width, height, frames) if frames > 1 else picture(width, height)
    keep = pyvips.enums.ForeignKeep.NONE
    if exif:
        image = image.copy()
        image.set_type(pyvips.GValue.blob_type, "exif-data", exif_blob())
        image.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>")
        keep = pyvips.enums.ForeignKeep.ALL
    data: bytes = image.webpsave_buffer(Q=70, effort=0, keep=keep)
    return data


def avif_bytes(width: int = 320, height: int = 240, *, exif: bool = False) -> bytes:
    image = picture(width, height)
    keep = pyvips.enums.ForeignKeep.NONE
    if exif:
        image = image.copy()
        image.set_type(pyvips.GValue.blob_type, "exif-data", exif_blob())
        image.set_type(pyvips.GValue.blob_type, "xmp-data", b"<x:xmpmeta>" + SECRET + b"</x:xmpmeta>")
        keep = pyvips.enums.ForeignKeep.ALL
    data: bytes = image.heifsave_buffer(compression="av1", effort=0, Q=60, keep=keep)
    return data


# ----------------------------------------------------------------------------- polyglots


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.html", "<html><script>alert(1)</script></html>")
    return buffer.getvalue()


HTML_PAYLOAD = b"<html><body><script>alert(document.cookie)</script></body></html>"
JS_PAYLOAD = b"\n;alert(document.domain);//"


# ----------------------------------------------------------------------------- bombs


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring a huge size, with a few bytes of compressed rows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 4096, 9)
    return PNG_SIGNATURE + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def jpeg_bomb(width: int = 65_000, height: int = 65_000) -> bytes:
    """A small real JPEG whose frame header claims a huge size."""
    data = bytearray(jpeg_bytes(64, 64))
    pos = 2
    while True:
        marker = data[pos + 1]
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker in (0xC0, 0xC1, 0xC2):
            struct.pack_into(">HH", data, pos + 5, height, width)
            return bytes(data)
        pos += 2 + length


def gif_bomb(width: int = 65_535, height: int = 65_535) -> bytes:
    data = bytearray(gif_bytes(16, 16))
    struct.pack_into("<HH", data, 6, width, height)
    return bytes(data)


def webp_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """An extended-format WebP whose canvas is huge and whose one frame is tiny."""
    simple = webp_bytes(16, 16)
    frame = simple[12:]  # the VP8/VP8L chunk
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00"
    vp8x += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    body = b"WEBP" + vp8x + frame
    return b"RIFF" + struct.pack("<I", len(body)) + body


# ----------------------------------------------------------------------------- video and audio


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


_VIDEO_CODECS = {
    "vp9": ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"],
    "vp8": ["-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "200k"],
    "h264": ["-c:v", "libx264", "-preset", "ultrafast"],
    "mpeg4": ["-c:v", "mpeg4"],
}
_AUDIO_CODECS = {"opus": ["-c:a", "libopus"], "vorbis": ["-c:a", "libvorbis"], "aac": ["-c:a", "aac"]}


def video(
    path: Path,
    *,
    container: str = "webm",
    vcodec: str = "vp9",
    acodec: str | None = "opus",
    seconds: float = 1.0,
    size: str = "320x240",
    metadata: bool = False,
    rotate: int | None = None,
) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=10"]
    if acodec:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]
    args += ["-t", str(seconds), *_VIDEO_CODECS[vcodec], "-pix_fmt", "yuv420p"]
    if acodec:
        args += _AUDIO_CODECS[acodec]
    if metadata:
        args += ["-metadata", f"title={SECRET.decode()}", "-metadata", f"location={SECRET_PLACE}"]
        args += ["-metadata:s:v:0", f"handler_name={SECRET.decode()}"]
    muxer = {"webm": "webm", "mkv": "matroska", "mp4": "mp4"}[container]
    if rotate is None:
        ffmpeg(*args, "-f", muxer, str(path))
        return path
    # A display rotation is side data of a stream; it survives a stream copy.
    plain = path.with_name(path.stem + "-unrotated" + path.suffix)
    ffmpeg(*args, "-f", muxer, str(plain))
    ffmpeg("-display_rotation:v:0", str(rotate), "-i", str(plain), "-c", "copy", "-f", muxer, str(path))
    plain.unlink()
    return path


def audio(path: Path, *, fmt: str = "mp3", seconds: float = 1.0, metadata: bool = False) -> Path:
    codec = {"mp3": ["-c:a", "libmp3lame"], "ogg": ["-c:a", "libopus"], "ogg-vorbis": ["-c:a", "libvorbis"]}[fmt]
    args = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds), *codec]
    if metadata:
        args += ["-metadata", f"title={SECRET.decode()}", "-metadata", "artist=Somebody Private"]
    args += ["-f", "mp3" if fmt == "mp3" else "ogg", str(path)]
    ffmpeg(*args)
    return path


def ffmpeg_info(path: Path) -> str:
    """ffmpeg's description of a file (ffprobe is not shipped with imageio-ffmpeg)."""
    completed = subprocess.run(
        [FFMPEG, "-hide_banner", "-nostdin", "-i", str(path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=30,
        check=False,
    )
    return completed.stderr.decode("utf-8", "replace")


HLS_PLAYLIST = b"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
FFCONCAT = b"ffconcat version 1.0\nfile '/etc/passwd'\n"

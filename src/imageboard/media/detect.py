"""What a file is, judged from its first bytes — never from its name or Content-Type.

The signature only picks the parser and decoder to try; a file is accepted once that
parser and a full decode agree (see ``processing``). Files that are recognisably something
else (SVG, HTML, PDF, archives, playlists, ...) are named in the refusal so a person knows
what went wrong.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

Kind = Literal["image", "video", "audio"]

# How much of the file identification looks at. Enough for an Ogg first page or an ftyp box.
HEAD_BYTES = 64 * 1024
# Browsers (and some servers) sniff the start of a file for markup; an image carrying
# HTML there is a polyglot waiting for a sloppy Content-Type, whatever follows.
MARKUP_WINDOW = 1024
_MARKUP = (b"<script", b"<html", b"<svg", b"<body", b"<iframe", b"<object", b"<embed", b"<!doctype html", b"<?php")


@dataclass(frozen=True, slots=True)
class Format:
    key: str  # the name used in MediaLimits.allowed
    ext: str
    mime: str
    kind: Kind


FORMATS: dict[str, Format] = {
    f.key: f
    for f in (
        Format("jpg", ".jpg", "image/jpeg", "image"),
        Format("png", ".png", "image/png", "image"),
        Format("gif", ".gif", "image/gif", "image"),
        Format("webp", ".webp", "image/webp", "image"),
        Format("avif", ".avif", "image/avif", "image"),
        Format("webm", ".webm", "video/webm", "video"),
        Format("mp4", ".mp4", "video/mp4", "video"),
        Format("mp3", ".mp3", "audio/mpeg", "audio"),
        Format("ogg", ".ogg", "audio/ogg", "audio"),
    )
}


@dataclass(frozen=True, slots=True)
class Identified:
    """Either one of our formats (``format``) or a description of what else it is."""

    format: Format | None
    description: str | None = None


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# ISO base media brands. AVIF first: an AVIF also lists generic brands like mif1.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1", b"mif2"})
_VIDEO_BRANDS = frozenset(
    {
        b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9",
        b"mp41", b"mp42", b"mp71", b"avc1", b"av01", b"dash", b"M4V ", b"M4VH", b"M4VP",
        b"qt  ", b"MSNV", b"XAVC", b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"mmp4",
    }
)  # fmt: skip
_AUDIO_MP4_BRANDS = frozenset({b"M4A ", b"M4B ", b"M4P "})

# Magic numbers of things people upload by mistake (or on purpose), to name them.
_FOREIGN: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
    (b"#!", "a script"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"\x00\x00\x01\x00", "an icon file"),
    (b"8BPS", "a Photoshop document"),
    (b"\xff\x0a", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "a JPEG XL image"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image"),
    (b"fLaC", "a FLAC audio file"),
    (b"FWS", "a Flash file"),
    (b"CWS", "a Flash file"),
    (b"wOFF", "a web font"),
    (b"wOF2", "a web font"),
)

_TEXT_KINDS: tuple[tuple[bytes, str], ...] = (
    (b"#extm3u", "an HLS or M3U playlist"),
    (b"ffconcat", "an ffconcat playlist"),
    (b"<svg", "an SVG image"),
    (b"<!doctype html", "an HTML document"),
    (b"<html", "an HTML document"),
    (b"<script", "an HTML document"),
    (b"<?xml", "an XML document"),
    (b"{\\rtf", "an RTF document"),
    (b"%!ps", "a PostScript document"),
    (b"[playlist]", "a playlist"),
)


def contains_markup(head: bytes) -> bool:
    window = head[:MARKUP_WINDOW].lower()
    return any(tag in window for tag in _MARKUP)


def _iso_brands(head: bytes) -> set[bytes]:
    size = struct.unpack(">I", head[:4])[0]
    size = min(max(size, 16), len(head), 4096)
    brands = {head[8:12]}
    brands.update(head[i : i + 4] for i in range(16, size - 3, 4))
    return brands


def _identify_iso(head: bytes) -> Identified:
    brands = _iso_brands(head)
    if brands & _AVIF_BRANDS:
        return Identified(FORMATS["avif"])
    if brands & _HEIF_BRANDS:
        return Identified(None, "a HEIC/HEIF image (convert it to JPEG or AVIF)")
    if brands & _VIDEO_BRANDS:
        return Identified(FORMATS["mp4"])
    if brands & _AUDIO_MP4_BRANDS:
        return Identified(None, "an M4A audio file")
    return Identified(None, "an ISO media file of an unsupported kind")


def _identify_ogg(head: bytes) -> Identified:
    # First page: 27-byte header, a segment table of head[26] entries, then the first packet.
    if len(head) < 28:
        return Identified(None, "an incomplete Ogg file")
    packet = head[27 + head[26] :]
    if packet.startswith((b"OpusHead", b"\x01vorbis")):
        return Identified(FORMATS["ogg"])
    if packet.startswith(b"\x80theora"):
        return Identified(None, "an Ogg video (Theora)")
    if packet.startswith((b"\x7fFLAC", b"fLaC")):
        return Identified(None, "an Ogg FLAC file")
    return Identified(None, "an Ogg file of an unsupported kind")


def _is_mp3_frame(head: bytes) -> bool:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version = (head[1] >> 3) & 3
    layer = (head[1] >> 1) & 3
    bitrate = head[2] >> 4
    rate = (head[2] >> 2) & 3
    return version != 1 and layer == 1 and bitrate not in (0, 15) and rate != 3


def _is_id3(head: bytes) -> bool:
    # "ID3", major version 2..4, revision, flags, then a 28-bit "syncsafe" size.
    return len(head) >= 10 and head.startswith(b"ID3") and head[3] in (2, 3, 4) and all(b < 0x80 for b in head[6:10])


def _identify_text(head: bytes) -> Identified:
    text = head[:MARKUP_WINDOW]
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    text = text.lstrip().lower()
    for prefix, description in _TEXT_KINDS:
        if text.startswith(prefix):
            if prefix == b"<?xml" and b"<svg" in head.lower():
                return Identified(None, "an SVG image")
            return Identified(None, description)
    if b"<svg" in text:
        return Identified(None, "an SVG image")
    if b"<html" in text or b"<script" in text:
        return Identified(None, "an HTML document")
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        return Identified(None)
    if all(ch.isprintable() or ch in "\r\n\t" for ch in decoded[:200]):
        return Identified(None, "a text file")
    return Identified(None)


def identify(head: bytes) -> Identified:
    """Name the format of a file from its first bytes (``HEAD_BYTES`` are enough)."""
    if head.startswith(b"\xff\xd8\xff"):
        return Identified(FORMATS["jpg"])
    if head.startswith(_PNG_SIGNATURE):
        return Identified(FORMATS["png"])
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Identified(FORMATS["gif"])
    if head.startswith(b"RIFF") and len(head) >= 12:
        if head[8:12] == b"WEBP":
            return Identified(FORMATS["webp"])
        return Identified(None, "a RIFF file (WAV or AVI)")
    if len(head) >= 16 and head[4:8] == b"ftyp":
        return _identify_iso(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Identified(FORMATS["webm"])
    if head.startswith(b"OggS"):
        return _identify_ogg(head)
    if _is_id3(head) or _is_mp3_frame(head):
        return Identified(FORMATS["mp3"])
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return Identified(None, "an AAC audio file")
    for magic, description in _FOREIGN:
        if head.startswith(magic):
            return Identified(None, description)
    return _identify_text(head)

"""identify(): the format comes from the first bytes, and foreign files are named."""

from __future__ import annotations

import struct

import pytest

from imageboard.media.detect import contains_markup, identify
from tests import media_samples as samples


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return struct.pack(">I", len(body) + 4) + body + b"\x00" * 32


@pytest.mark.parametrize(
    ("head", "key"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "jpg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"),
        (b"GIF89a\x01\x00\x01\x00", "gif"),
        (b"GIF87a\x01\x00\x01\x00", "gif"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
        (_ftyp(b"avif", b"mif1", b"miaf"), "avif"),
        (_ftyp(b"mif1", b"avif"), "avif"),
        (_ftyp(b"isom", b"iso2", b"avc1", b"mp41"), "mp4"),
        (_ftyp(b"qt  "), "mp4"),
        (b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", "webm"),
        (b"ID3\x04\x00\x00\x00\x00\x01\x00", "mp3"),
        (b"\xff\xfb\x90\x64\x00", "mp3"),
        (b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x13OpusHead", "ogg"),
        (b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x1e\x01vorbis", "ogg"),
    ],
)
def test_recognised_formats(head: bytes, key: str) -> None:
    identified = identify(head)
    assert identified.format is not None
    assert identified.format.key == key


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "SVG"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html></html>", "HTML"),
        (b"<html><body>hi</body></html>", "HTML"),
        (b"<script>alert(1)</script>", "HTML"),
        (b"#!/bin/sh\nrm -rf /\n", "script"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "PDF"),
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP"),
        (samples.HLS_PLAYLIST, "HLS"),
        (samples.FFCONCAT, "ffconcat"),
        (_ftyp(b"heic", b"mif1", b"heic"), "HEIC"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", "RIFF"),
        (b"OggS\x00\x02" + b"\x00" * 20 + b"\x01\x2a\x80theora", "Theora"),
        (b"II*\x00\x08\x00\x00\x00", "TIFF"),
        (b"\x7fELF\x02\x01\x01", "program"),
        (b"just some words\n", "text"),
    ],
)
def test_foreign_files_are_named(head: bytes, words: str) -> None:
    identified = identify(head)
    assert identified.format is None
    assert identified.description is not None
    assert words in identified.description


def test_unknown_binary_is_not_named() -> None:
    identified = identify(bytes(range(7, 200)))
    assert identified.format is None
    assert identified.description is None


def test_empty_head() -> None:
    assert identify(b"").format is None


def test_markup_in_the_first_kilobyte() -> None:
    jpeg = samples.insert_after_soi(samples.jpeg_bytes(32, 32), samples.jpeg_segment(0xFE, b"<SCRIPT>x</script>"))
    assert contains_markup(jpeg)
    assert not contains_markup(samples.jpeg_bytes(32, 32))
    # Beyond the first KiB the leading-bytes check does not look (the container parse does).
    assert not contains_markup(b"\x00" * 2048 + b"<html>")

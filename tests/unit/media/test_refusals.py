"""Every way an upload is refused: the error class (status), a message a person can act
on, the ``upfile`` field, and no temporary file left behind (checked by ``refuse``)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from imageboard.core.errors import InvalidInput, TooLarge, UnsupportedMedia
from imageboard.media import processing
from imageboard.media.limits import MediaLimits
from tests import media_samples as samples

from .conftest import Refuse, Upload

NOT_ALLOWED = "This file type is not allowed on this board: allowed are"


def test_empty_file(refuse: Refuse) -> None:
    refuse(b"", InvalidInput, "empty")


def test_file_over_the_size_limit(refuse: Refuse) -> None:
    refuse(
        samples.png_bytes(200, 200), TooLarge, "too large", "at most 0.1 MB", limits=MediaLimits(max_file_bytes=100_000)
    )


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "SVG"),
        (b"<!DOCTYPE html><html><script>alert(1)</script></html>", "HTML"),
        (b"#!/usr/bin/env python\nimport os\n", "script"),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", "PDF"),
        (samples.zip_archive(), "ZIP"),
        (samples.HLS_PLAYLIST, "HLS"),
        (samples.FFCONCAT, "ffconcat"),
        (bytes(range(256)) * 4, "not a recognised image, video or audio file"),
    ],
)
def test_foreign_types(refuse: Refuse, data: bytes, named: str) -> None:
    # The name claims an image or a video; the content says otherwise.
    refuse(data, UnsupportedMedia, NOT_ALLOWED, named, name="innocent.webm")


def test_type_not_allowed_on_the_board(refuse: Refuse) -> None:
    refuse(
        samples.gif_bytes(32, 32),
        UnsupportedMedia,
        f"{NOT_ALLOWED} JPG, PNG.",
        "GIF",
        limits=MediaLimits(allowed=frozenset({"jpg", "png"})),
    )


def test_audio_is_refused_by_default(refuse: Refuse, tmp_path: Path) -> None:
    path = samples.audio(tmp_path / "song.mp3")
    refuse(path, UnsupportedMedia, f"{NOT_ALLOWED} JPG, PNG, GIF, WEBP, AVIF, WEBM, MP4.", limits=MediaLimits())


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(samples.jpeg_bytes(320, 240)[:3000], id="jpeg-cut"),
        pytest.param(samples.jpeg_bytes(320, 240)[:3000] + b"\xff\xd9", id="jpeg-cut-with-end-marker"),
        pytest.param(samples.png_bytes(320, 240)[:5000], id="png-cut"),
        pytest.param(samples.gif_bytes(320, 240)[:2000], id="gif-cut"),
        pytest.param(samples.webp_bytes(320, 240)[:300], id="webp-cut"),
        pytest.param(samples.avif_bytes(320, 240)[:400], id="avif-cut"),
        pytest.param(samples.jpeg_bytes(16, 16)[:4], id="jpeg-signature-only"),
    ],
)
def test_truncated_images(refuse: Refuse, data: bytes) -> None:
    refuse(data, InvalidInput, "The file is damaged or incomplete")


def test_corrupt_jpeg_data(refuse: Refuse) -> None:
    data = bytearray(samples.jpeg_bytes(320, 240))
    for pos in range(len(data) // 2, len(data) - 4, 97):
        if data[pos] != 0xFF and data[pos - 1] != 0xFF:
            data[pos] = 0xFF  # markers in the middle of the entropy-coded data
    refuse(bytes(data), InvalidInput, "damaged or incomplete")


def test_corrupt_png_data_with_valid_checksums(refuse: Refuse) -> None:
    # Rows that are not valid zlib, wrapped in a chunk with a correct CRC: only a decode notices.
    ihdr = samples.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 64, 64, 8, 2, 0, 0, 0))
    idat = samples.png_chunk(b"IDAT", zlib.compress(b"\x00" * 100)[:-6] + b"\x12\x34garbage")
    data = samples.PNG_SIGNATURE + ihdr + idat + samples.png_chunk(b"IEND", b"")
    refuse(data, InvalidInput, "damaged or incomplete")


def test_png_with_a_bad_checksum(refuse: Refuse) -> None:
    data = bytearray(samples.png_bytes(64, 64))
    data[data.index(b"IDAT") + 10] ^= 0x01
    refuse(bytes(data), InvalidInput, "damaged or incomplete", "checksum")


@pytest.mark.parametrize(
    ("image", "payload"),
    [
        pytest.param(samples.jpeg_bytes(320, 240), samples.HTML_PAYLOAD, id="jpeg+html"),
        pytest.param(samples.png_bytes(64, 64), samples.zip_archive(), id="png+zip"),
        pytest.param(samples.gif_bytes(320, 240), samples.JS_PAYLOAD, id="gif+javascript"),
        pytest.param(samples.webp_bytes(320, 240), samples.HTML_PAYLOAD, id="webp+html"),
        pytest.param(samples.avif_bytes(320, 240), samples.HTML_PAYLOAD, id="avif+html"),
    ],
)
def test_polyglots(refuse: Refuse, image: bytes, payload: bytes) -> None:
    assert len(image) > 1024  # past the leading-bytes check: the container parse must catch it
    refuse(image + payload, UnsupportedMedia, "extra data hidden after the end of the image")


def test_image_with_markup_at_the_start(refuse: Refuse) -> None:
    comment = samples.jpeg_segment(0xFE, b"<html><script src=//evil.example/x.js></script>")
    data = samples.insert_after_soi(samples.jpeg_bytes(64, 64), comment)
    refuse(data, UnsupportedMedia, "HTML or script")


def test_png_with_an_svg_text_chunk(refuse: Refuse) -> None:
    data = samples.insert_png_chunks(samples.png_bytes(32, 32), samples.png_chunk(b"tEXt", b"x\x00<svg onload=1>"))
    refuse(data, UnsupportedMedia, "HTML or script")


def test_small_padding_after_the_end_is_accepted(upload: Upload) -> None:
    result = upload(samples.gif_bytes(32, 32) + b"\x00" * 16)
    assert result.original.read_bytes().endswith(b"\x3b")


def test_too_many_gif_frames(refuse: Refuse) -> None:
    refuse(
        samples.gif_bytes(32, 32, frames=5),
        TooLarge,
        "too many frames: 5, at most 3",
        limits=MediaLimits(max_gif_frames=3),
    )


def test_too_many_webp_frames(refuse: Refuse) -> None:
    refuse(samples.webp_bytes(32, 32, frames=5), TooLarge, "too many frames", limits=MediaLimits(max_gif_frames=4))


def test_animation_over_the_decoding_budget(refuse: Refuse) -> None:
    limits = MediaLimits(max_animation_pixels=100 * 100 * 3)
    refuse(samples.gif_bytes(100, 100, frames=4), TooLarge, "animation is too large", "100×100", limits=limits)


def test_pixel_limit_below_the_bomb_sizes(refuse: Refuse) -> None:
    refuse(samples.png_bytes(300, 200), TooLarge, "300×200 pixels", limits=MediaLimits(max_pixels=50_000))
    refuse(samples.jpeg_bytes(400, 100), TooLarge, "400×100", limits=MediaLimits(max_dimension=300))


def test_progressive_jpeg_needing_too_much_memory(refuse: Refuse) -> None:
    # A real progressive 4:4:4 JPEG whose header claims 9000×5500 (under the pixel limit):
    # its coefficients alone would take ~300 MB, so it is refused before decoding.
    data = bytearray(samples.picture(64, 64).jpegsave_buffer(interlace=True, subsample_mode="off", keep=0))
    pos = data.index(b"\xff\xc2")
    struct.pack_into(">HH", data, pos + 5, 5500, 9000)
    refuse(bytes(data), TooLarge, "progressive JPEGs of this size need too much memory")


def test_interlaced_png_needing_too_much_memory(refuse: Refuse) -> None:
    ihdr = samples.png_chunk(b"IHDR", struct.pack(">IIBBBBB", 7000, 7000, 16, 6, 0, 0, 1))
    idat = samples.png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
    data = samples.PNG_SIGNATURE + ihdr + idat + samples.png_chunk(b"IEND", b"")
    refuse(data, TooLarge, "interlaced PNGs of this size")


def test_large_avif_is_refused_before_decoding(refuse: Refuse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processing, "_AVIF_MAX_PIXELS", 100 * 100)
    refuse(samples.avif_bytes(200, 100), TooLarge, "AVIF images are accepted up to")

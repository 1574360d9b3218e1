"""The container cleaners on their own: what is removed, what is kept, what is refused."""

from __future__ import annotations

import contextlib
import random
import struct
import zlib
from collections.abc import Callable

import pytest

from imageboard.media.strip import (
    HiddenData,
    Malformed,
    clean_avif,
    clean_gif,
    clean_jpeg,
    clean_png,
    clean_webp,
)
from tests import media_samples as samples

# ----------------------------------------------------------------------------- JPEG


def _jpeg_markers(data: bytes) -> list[int]:
    """Markers of the header segments, up to the first scan."""
    markers = []
    pos = 2
    while data[pos + 1] != 0xDA:
        markers.append(data[pos + 1])
        pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return markers


def test_jpeg_metadata_segments_are_removed() -> None:
    original = samples.jpeg_with_exif()
    assert samples.SECRET in original
    cleaned = clean_jpeg(original)
    data = cleaned.tobytes()
    assert samples.SECRET not in data
    assert b"Exif\x00\x00" not in data
    assert b"Photoshop 3.0" not in data
    markers = _jpeg_markers(data)
    assert not {0xE1, 0xED, 0xFE} & set(markers)
    assert set(cleaned.removed) >= {"APP1", "APP13", "COM"}
    assert (cleaned.width, cleaned.height) == (640, 480)


def test_jpeg_keeps_icc_and_adobe_and_drops_the_jfif_thumbnail() -> None:
    icc = samples.jpeg_segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + b"profile-bytes")
    adobe = samples.jpeg_segment(0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01")
    mpf = samples.jpeg_segment(0xE2, b"MPF\x00" + b"index")
    # JFIF with a 4×1 RGB thumbnail of the (uncropped) original.
    jfif = samples.jpeg_segment(0xE0, b"JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x04\x01" + SECRET_PIXELS)
    base = samples.jpeg_bytes(64, 64)
    data = clean_jpeg(base[:2] + jfif + icc + adobe + mpf + base[2:]).tobytes()
    assert b"ICC_PROFILE\x00\x01\x01profile-bytes" in data
    assert b"Adobe\x00\x64" in data
    assert b"MPF\x00" not in data
    assert SECRET_PIXELS not in data
    assert b"JFIF\x00\x01\x02\x01\x00\x48\x00\x48\x00\x00" in data


SECRET_PIXELS = b"THUMBSECRET!"  # 4×1 RGB pixels


def test_jpeg_entropy_data_is_copied_unchanged() -> None:
    base = samples.jpeg_bytes(320, 240, progressive=True)
    assert clean_jpeg(base).tobytes() == base  # nothing to remove: byte-identical


def test_jpeg_without_end_marker_is_malformed() -> None:
    base = samples.jpeg_bytes(320, 240)
    with pytest.raises(Malformed):
        clean_jpeg(base[:-2])
    with pytest.raises(Malformed):
        clean_jpeg(base[: len(base) // 2])


def test_jpeg_trailers() -> None:
    base = samples.jpeg_bytes(64, 64)
    assert clean_jpeg(base + b"\x00" * 100).tobytes() == base  # padding is dropped
    assert clean_jpeg(base + samples.jpeg_bytes(16, 16)).tobytes() == base  # MPF secondary image
    with pytest.raises(HiddenData):
        clean_jpeg(base + samples.HTML_PAYLOAD)
    with pytest.raises(HiddenData):
        clean_jpeg(base + samples.zip_archive())


def test_jpeg_progressive_buffer_estimate() -> None:
    assert clean_jpeg(samples.jpeg_bytes(64, 64)).buffer_bytes == 0
    estimate = clean_jpeg(samples.jpeg_bytes(640, 480, progressive=True)).buffer_bytes
    # 4:2:0: luma 80×60 blocks + two chroma planes of 40×30 blocks, 128 bytes per block.
    assert estimate == (80 * 60 + 2 * 40 * 30) * 128


# ----------------------------------------------------------------------------- PNG


def _png_chunk_types(data: bytes) -> list[bytes]:
    types = []
    pos = 8
    while pos < len(data):
        length = struct.unpack_from(">I", data, pos)[0]
        types.append(data[pos + 4 : pos + 8])
        pos += 12 + length
    return types


def test_png_text_time_and_exif_chunks_are_removed() -> None:
    cleaned = clean_png(samples.png_with_text())
    data = cleaned.tobytes()
    assert samples.SECRET not in data
    assert zlib.compress(samples.SECRET) not in data
    types = _png_chunk_types(data)
    assert not {b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"} & set(types)
    assert types[0] == b"IHDR"
    assert types[-1] == b"IEND"
    assert b"gAMA" in types  # rendering chunks stay
    assert (cleaned.width, cleaned.height) == (320, 240)


def test_png_bad_crc_is_malformed() -> None:
    data = bytearray(samples.png_bytes(32, 32))
    data[50] ^= 0xFF  # inside the first IDAT (after the signature, IHDR and a chunk header)
    with pytest.raises(Malformed, match="checksum"):
        clean_png(bytes(data))


def test_png_unknown_critical_chunk_is_malformed() -> None:
    data = samples.insert_png_chunks(samples.png_bytes(32, 32), samples.png_chunk(b"CgBI", b"\x00" * 4))
    with pytest.raises(Malformed):
        clean_png(data)


def test_png_animation_chunks_stay_and_count_frames() -> None:
    base = samples.png_bytes(32, 32)
    actl = samples.png_chunk(b"acTL", struct.pack(">II", 3, 0))
    fctl = samples.png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, 32, 32, 0, 0, 1, 10, 0, 0))
    cleaned = clean_png(samples.insert_png_chunks(base, actl, fctl))
    assert cleaned.frames == 3
    assert b"acTL" in _png_chunk_types(cleaned.tobytes())


def test_png_trailing_zip_is_hidden_data() -> None:
    with pytest.raises(HiddenData):
        clean_png(samples.png_bytes(32, 32) + samples.zip_archive())


def test_png_interlaced_buffer_estimate() -> None:
    assert clean_png(samples.png_bytes(64, 32)).buffer_bytes == 0
    assert clean_png(samples.png_bytes(64, 32, interlace=True)).buffer_bytes == 64 * 32 * 3


# ----------------------------------------------------------------------------- GIF


def test_gif_comment_and_foreign_application_extensions_are_removed() -> None:
    cleaned = clean_gif(samples.gif_with_comment(frames=3))
    data = cleaned.tobytes()
    assert samples.SECRET not in data
    assert b"XMP DataXMP" not in data
    assert b"\x21\xfe" not in data[: samples.gif_header_end(data) + 3]
    assert b"NETSCAPE2.0" in data  # looping stays
    assert cleaned.frames == 3
    assert set(cleaned.removed) >= {"comment", "application"}


def test_gif_without_trailer_is_malformed() -> None:
    data = samples.gif_bytes(32, 32)
    with pytest.raises(Malformed):
        clean_gif(data[:-1])


def test_gif_trailing_script_is_hidden_data() -> None:
    with pytest.raises(HiddenData):
        clean_gif(samples.gif_bytes(32, 32) + samples.JS_PAYLOAD)


def test_gif_frame_outside_the_screen_grows_the_size() -> None:
    data = bytearray(samples.gif_bytes(16, 16))
    at = samples.gif_header_end(bytes(data))
    while data[at] != 0x2C:  # skip extensions to the image descriptor
        at += 2
        while data[at]:
            at += data[at] + 1
        at += 1
    struct.pack_into("<HH", data, at + 1, 60_000, 50_000)  # frame left/top
    cleaned = clean_gif(bytes(data))
    assert (cleaned.width, cleaned.height) == (60_016, 50_016)


# ----------------------------------------------------------------------------- WebP


def test_webp_exif_and_xmp_are_removed_and_header_fixed() -> None:
    original = samples.webp_bytes(exif=True)
    assert b"EXIF" in original
    assert samples.SECRET in original
    data = clean_webp(original).tobytes()
    assert samples.SECRET not in data
    assert b"EXIF" not in data
    assert b"XMP " not in data
    assert struct.unpack_from("<I", data, 4)[0] == len(data) - 8  # RIFF size
    flags = data[20]
    assert data[12:16] == b"VP8X"
    assert not flags & 0x0C  # EXIF and XMP flags cleared


def test_webp_animation_is_kept() -> None:
    cleaned = clean_webp(samples.webp_bytes(frames=4))
    assert cleaned.frames == 4
    assert cleaned.tobytes().count(b"ANMF") == 4


def test_webp_truncated_and_trailing() -> None:
    data = samples.webp_bytes()
    with pytest.raises(Malformed):
        clean_webp(data[:-10])
    with pytest.raises(HiddenData):
        clean_webp(data + samples.HTML_PAYLOAD)


# ----------------------------------------------------------------------------- AVIF


def test_avif_metadata_items_are_neutralised_in_place() -> None:
    original = samples.avif_bytes(exif=True)
    assert samples.SECRET in original
    cleaned = clean_avif(original)
    data = cleaned.tobytes()
    assert len(data) == len(original)  # nothing moved: every offset is still right
    assert samples.SECRET not in data
    assert b"Exif" not in data
    assert {"Exif", "mime"} <= set(cleaned.removed)


def test_avif_trailing_html_is_hidden_data() -> None:
    with pytest.raises(HiddenData):
        clean_avif(samples.avif_bytes() + samples.HTML_PAYLOAD)


def test_avif_truncated_is_malformed() -> None:
    data = samples.avif_bytes()
    with pytest.raises(Malformed):
        clean_avif(data[: len(data) - 100])


@pytest.mark.parametrize("cleaner", [clean_jpeg, clean_png, clean_gif, clean_webp, clean_avif])
def test_garbage_never_escapes_as_another_exception(cleaner: Callable[[bytes], object]) -> None:
    rng = random.Random(4711)
    seeds = [
        samples.jpeg_bytes(32, 32),
        samples.png_bytes(32, 32),
        samples.gif_bytes(32, 32),
        samples.webp_bytes(32, 32),
        samples.avif_bytes(32, 32),
    ]
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        with contextlib.suppress(Malformed, HiddenData):
            cleaner(bytes(data))

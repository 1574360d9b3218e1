"""process_upload with images: accepted formats, thumbnails, and metadata removal."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import pyvips

from imageboard.media.limits import MediaLimits
from imageboard.media.processing import make_thumbnail
from tests import media_samples as samples

from .conftest import Upload

IMAGES = {
    "jpg": lambda: samples.jpeg_bytes(640, 480),
    "png": lambda: samples.png_bytes(640, 480),
    "gif": lambda: samples.gif_bytes(640, 480),
    "webp": lambda: samples.webp_bytes(640, 480),
    "avif": lambda: samples.avif_bytes(640, 480),
}
MIME = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp", "avif": "image/avif"}


def _jpeg(path: Path) -> pyvips.Image:
    return pyvips.Image.jpegload(str(path))


@pytest.mark.parametrize("key", sorted(IMAGES))
@pytest.mark.parametrize(("is_op", "box"), [(True, 250), (False, 125)])
def test_each_image_format_is_accepted(upload: Upload, key: str, is_op: bool, box: int) -> None:
    # The client name lies about the type; the content decides.
    result = upload(IMAGES[key](), "holiday.exe", is_op=is_op)
    assert result.kind == "image"
    assert result.ext == f".{key}"
    assert result.mime == MIME[key]
    assert (result.width, result.height) == (640, 480)
    assert result.duration is None
    assert result.has_audio is None
    assert result.filename == "holiday"
    assert result.thumbnail is not None
    assert result.thumb_width == box
    assert result.thumb_height == round(480 * box / 640)
    thumb = _jpeg(result.thumbnail)
    assert (thumb.width, thumb.height) == (result.thumb_width, result.thumb_height)
    assert thumb.bands == 3
    assert thumb.get_typeof("exif-data") == 0
    assert result.thumbnail.read_bytes().startswith(b"\xff\xd8\xff")


def test_sizes_and_hashes_describe_the_stored_file(upload: Upload) -> None:
    result = upload(samples.jpeg_with_exif(), "photo.jpg")
    stored = result.original.read_bytes()
    assert result.size == len(stored)
    assert result.sha256 == hashlib.sha256(stored).hexdigest()
    assert result.md5_base64 == base64.b64encode(hashlib.md5(stored).digest()).decode()  # noqa: S324


def test_small_images_are_not_enlarged(upload: Upload) -> None:
    result = upload(samples.png_bytes(60, 30), "tiny.png")
    assert (result.thumb_width, result.thumb_height) == (60, 30)


def test_tall_images_fit_the_box_by_height(upload: Upload) -> None:
    result = upload(samples.jpeg_bytes(300, 1200), is_op=False)
    assert (result.thumb_width, result.thumb_height) == (31, 125)


def test_transparency_is_flattened_onto_grey(upload: Upload) -> None:
    # The sample's alpha is 0 on the left edge: the thumbnail shows the background there.
    result = upload(samples.png_bytes(200, 100, alpha=True))
    assert result.thumbnail is not None
    thumb = _jpeg(result.thumbnail)
    assert thumb.bands == 3
    left = thumb.crop(0, 0, 2, thumb.height).avg()
    assert 225 <= left <= 250


def test_jpeg_gps_exif_is_removed(upload: Upload, inbox: Path) -> None:
    original = samples.jpeg_with_exif()
    probe = inbox / "with-gps.jpg"
    probe.write_bytes(original)
    fields = _jpeg(probe).get_fields()
    assert "exif-ifd3-GPSLatitude" in fields  # the sample really carries a position

    result = upload(original, "with-gps.jpg")
    stored = result.original.read_bytes()
    assert samples.SECRET not in stored
    assert b"Exif" not in stored
    assert b"http://ns.adobe.com/xap" not in stored
    image = _jpeg(result.original)
    assert image.get_typeof("exif-data") == 0
    assert image.get_typeof("xmp-data") == 0
    assert image.get_typeof("iptc-data") == 0
    assert not [name for name in image.get_fields() if name.startswith("exif-")]
    assert (image.width, image.height) == (640, 480)


def test_jpeg_without_rotation_is_cleaned_losslessly(upload: Upload) -> None:
    plain = samples.jpeg_bytes(320, 240)
    result = upload(samples.insert_after_soi(plain, samples.jpeg_segment(0xFE, b"a comment")))
    assert result.original.read_bytes() == plain  # same pixels, byte for byte


def test_jpeg_orientation_is_applied(upload: Upload) -> None:
    # Orientation 6: the camera was held upright; the stored pixels must be upright too.
    result = upload(samples.jpeg_with_exif(400, 200, orientation=6), "rotated.jpg")
    assert (result.width, result.height) == (200, 400)
    image = _jpeg(result.original)
    assert (image.width, image.height) == (200, 400)
    assert image.get_typeof("orientation") == 0 or image.get("orientation") == 1
    assert samples.SECRET not in result.original.read_bytes()
    assert (result.thumb_width, result.thumb_height) == (125, 250)


def test_png_text_chunks_are_removed(upload: Upload) -> None:
    result = upload(samples.png_with_text(), "notes.png")
    stored = result.original.read_bytes()
    assert samples.SECRET not in stored
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"tIME", b"eXIf"):
        assert chunk not in stored
    image = pyvips.Image.pngload(str(result.original))
    assert (image.width, image.height) == (320, 240)


def test_gif_comment_is_removed(upload: Upload) -> None:
    result = upload(samples.gif_with_comment(), "commented.gif")
    assert samples.SECRET not in result.original.read_bytes()
    assert (result.width, result.height) == (320, 240)


def test_animated_gif_stays_animated(upload: Upload) -> None:
    result = upload(samples.gif_with_comment(160, 120, frames=6), "loop.gif")
    stored = pyvips.Image.gifload(str(result.original), n=-1)
    assert stored.get("n-pages") == 6
    assert samples.SECRET not in result.original.read_bytes()
    assert b"NETSCAPE2.0" in result.original.read_bytes()
    assert (result.width, result.height) == (160, 120)
    # The thumbnail is the first frame (the frames differ in colour).
    first = pyvips.Image.gifload(str(result.original)).extract_band(0, n=3).avg()
    assert result.thumbnail is not None
    assert abs(_jpeg(result.thumbnail).avg() - first) < 6


def test_animated_webp_stays_animated(upload: Upload) -> None:
    result = upload(samples.webp_bytes(160, 120, frames=5), "loop.webp")
    stored = pyvips.Image.webpload(str(result.original), n=-1)
    assert stored.get("n-pages") == 5


def test_webp_exif_is_removed(upload: Upload) -> None:
    result = upload(samples.webp_bytes(exif=True), "exif.webp")
    stored = result.original.read_bytes()
    assert samples.SECRET not in stored
    assert b"EXIF" not in stored
    image = pyvips.Image.webpload(str(result.original))
    assert image.get_typeof("exif-data") == 0
    assert image.get_typeof("xmp-data") == 0


def test_avif_exif_is_removed(upload: Upload, inbox: Path) -> None:
    original = samples.avif_bytes(exif=True)
    probe = inbox / "probe.avif"
    probe.write_bytes(original)
    assert "exif-ifd3-GPSLatitude" in pyvips.Image.heifload(str(probe)).get_fields()

    result = upload(original, "exif.avif")
    stored = result.original.read_bytes()
    assert samples.SECRET not in stored
    image = pyvips.Image.heifload(str(result.original))
    assert image.get_typeof("exif-data") == 0
    assert image.get_typeof("xmp-data") == 0
    assert (image.width, image.height) == (320, 240)
    assert image.avg() > 0  # still decodes


def test_allowed_types_are_per_board(upload: Upload) -> None:
    limits = MediaLimits(allowed=frozenset({"png"}))
    assert upload(samples.png_bytes(32, 32), limits=limits).ext == ".png"


def test_make_thumbnail_rebuilds_from_a_stored_original(upload: Upload, workdir: Path) -> None:
    result = upload(samples.jpeg_bytes(800, 400))
    rebuilt = make_thumbnail(result.original, "image", 125, workdir)
    assert rebuilt is not None
    path, width, height = rebuilt
    assert (width, height) == (125, 63)
    assert path.parent == workdir
    assert (_jpeg(path).width, _jpeg(path).height) == (125, 63)
    assert make_thumbnail(result.original, "audio", 125, workdir) is None


@pytest.mark.parametrize(("data", "expected"), [
    (lambda: samples.jpeg_with_exif(400, 200, orientation=6), (400, 200, 6)),
    (lambda: samples.jpeg_with_exif(400, 200, orientation=9), (400, 200, 1)),  # out of range: upright
    (lambda: samples.jpeg_bytes(320, 240), (320, 240, 1)),  # no EXIF at all
])  # fmt: skip
def test_jpeg_header_reads_size_and_orientation_at_once(
    data: object, expected: tuple[int, int, int], tmp_path: Path
) -> None:
    from imageboard.media.images import jpeg_header

    path = tmp_path / "photo.jpg"
    path.write_bytes(data())  # type: ignore[operator]
    assert jpeg_header(path) == expected

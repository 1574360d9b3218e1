"""The perceptual hash: taken at ingest from the thumbnail, equal to what
``imageboard.media.perceptual_hash`` says of the same file; the same picture re-encoded or
resized stays close, another is far."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import pyvips

from imageboard.media import perceptual_hash
from imageboard.media.phash import hash_pixels
from imageboard.media.processing import finish_video, process_upload
from imageboard.media.service import ingested_file
from tests import media_samples as samples

from .conftest import EVERYTHING, Upload


def distance(a: int | None, b: int | None) -> int:
    assert a is not None and b is not None
    return (a ^ b).bit_count()


def photo(seed: int, width: int = 640, height: int = 480) -> pyvips.Image:
    """A smooth picture, as photographs are: a few broad waves of colour."""
    xy = pyvips.Image.xyz(width, height)
    x, y = xy[0] * (640 / width), xy[1] * (480 / height)
    # libvips takes degrees: one wave every few hundred pixels.
    r = ((x * (360 / (230 + 20 * seed))).sin() * 90 + 128).cast("uchar")
    g = (((x + 2 * y) * (360 / (330 + 45 * seed))).cos() * 90 + 128).cast("uchar")
    b = ((y * (360 / (180 + 30 * seed))).sin() * 90 + 128).cast("uchar")
    return r.bandjoin([g, b]).copy(interpretation="srgb")


def written(image: pyvips.Image, path: Path, **options: object) -> Path:
    image.write_to_file(str(path), **options)
    return path


def test_an_upload_hashes_as_the_public_function_says(upload: Upload, tmp_path: Path) -> None:
    """The hash kept with an upload is the one a file ban is made from: for the same file and
    thumbnail box they are equal, whatever the format; through the other box, within 2 bits."""
    files = {fmt: written(photo(1), tmp_path / f"p.{fmt}") for fmt in ("png", "jpg", "webp", "gif", "avif")}
    files["large"] = written(photo(1, 4000, 3000), tmp_path / "large.jpg", Q=85)
    reference = perceptual_hash(files["png"])
    for name, path in files.items():
        reply = upload(path, path.name, is_op=False).phash
        op = upload(path, path.name, is_op=True).phash
        assert reply == perceptual_hash(path), name
        assert op == perceptual_hash(path, box=EVERYTHING.op_thumb), name
        assert distance(reply, op) <= 2, name
        assert distance(reply, reference) <= 6, name  # the same picture, whatever its format and size
    assert upload(files["png"], "again.png", is_op=False).phash == reference  # posted twice: distance 0
    other = written(photo(6).flip("horizontal"), tmp_path / "other.png")
    assert distance(upload(other, "other.png").phash, reference) > 16


def test_a_rotated_camera_photo_hashes_as_it_is_shown(upload: Upload, inbox: Path) -> None:
    """Ingest hashes the upright copy it stores; the hash of the camera's file (orientation
    still in its EXIF) must match it, and not the sideways pixels."""
    camera = inbox / "camera.jpg"
    camera.write_bytes(samples.jpeg_with_exif(400, 200, orientation=6))
    stored = upload(camera, "camera.jpg", is_op=False).phash
    assert distance(stored, perceptual_hash(camera)) <= 2
    sideways = inbox / "sideways.png"
    pyvips.Image.jpegload(str(camera)).write_to_file(str(sideways))  # the pixels as saved, unturned
    assert distance(stored, perceptual_hash(sideways)) > 8


def test_same_picture_is_close_and_another_is_far(tmp_path: Path) -> None:
    original = photo(2, 320, 240)
    a = perceptual_hash(written(original, tmp_path / "a.png"))
    a_small = perceptual_hash(written(original.resize(0.5), tmp_path / "a.jpg", Q=60))
    b = perceptual_hash(written(photo(7, 320, 240).flip("horizontal"), tmp_path / "b.png"))
    assert 0 <= a < 2**64
    assert distance(a, a_small) <= 6
    assert distance(a, b) > 12


def test_an_animation_is_hashed_by_its_first_frame(upload: Upload, tmp_path: Path) -> None:
    first, second = photo(1, 320, 240), photo(5, 320, 240).flip("horizontal")
    frames = pyvips.Image.arrayjoin([first, second], across=1).copy()
    frames.set_type(pyvips.GValue.gint_type, "page-height", 240)
    gif = written(frames, tmp_path / "loop.gif")
    hashed = upload(gif, "loop.gif").phash
    assert distance(hashed, perceptual_hash(written(first, tmp_path / "first.png"))) <= 4
    assert distance(hashed, perceptual_hash(written(second, tmp_path / "second.png"))) > 16


def test_a_video_is_hashed_by_its_thumbnail_frame_now_or_by_its_worker(
    upload: Upload, inbox: Path, workdir: Path
) -> None:
    clip = samples.video(inbox / "clip.webm", seconds=1.0)
    now = upload(clip, "clip.webm", is_op=False)
    assert now.phash is not None
    # Deferred: the request has no thumbnail and so no hash; the worker takes it.
    pending = process_upload(clip, "clip.webm", EVERYTHING, is_op=False, workdir=workdir, defer_video=True)
    assert pending.pending and pending.phash is None
    finished = finish_video(clip, EVERYTHING, EVERYTHING.reply_thumb, workdir)
    assert finished.phash == now.phash
    stored = ingested_file(finished, box=EVERYTHING.reply_thumb, spoiler=False, phash=finished.phash)
    assert stored.phash == now.phash  # what the worker stores
    assert upload(samples.audio(inbox / "tone.mp3"), "tone.mp3").phash is None


def test_not_an_image(tmp_path: Path) -> None:
    text = tmp_path / "not.png"
    text.write_bytes(b"this is not an image")
    with pytest.raises(ValueError, match="not an image"):
        perceptual_hash(text)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(samples.png_bytes(320, 240)[:400])
    with pytest.raises(ValueError, match="not an image"):
        perceptual_hash(truncated)


def test_hash_of_pixels() -> None:
    rising = bytes(range(72))  # every pixel brighter than its left neighbour: all ones
    assert hash_pixels(rising) == 2**64 - 1
    assert hash_pixels(bytes(72)) == 0
    assert hash_pixels(bytes([0, 1] + [0] * 70)) == 1 << 63  # row by row, the first pair the highest bit
    with pytest.raises(ValueError, match="grey pixels"):
        hash_pixels(b"\x00" * 10)


def test_hashing_a_large_photo_is_cheap(tmp_path: Path) -> None:
    large = written(photo(5, 6000, 4000), tmp_path / "large.jpg", Q=85)
    perceptual_hash(large)  # warm up libvips
    started = time.perf_counter()
    perceptual_hash(large)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"{elapsed:.3f} s for a 24 MP JPEG: shrink-on-load is not working"

"""process_upload with video (WebM, MP4) and audio (MP3, Ogg), through ffmpeg."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pyvips

from imageboard.core.errors import InvalidInput, TooLarge, UnsupportedMedia
from imageboard.media import video as video_module
from imageboard.media.limits import MediaLimits
from imageboard.media.processing import make_thumbnail
from tests import media_samples as samples

from .conftest import EVERYTHING, Refuse, Upload

Sample = Callable[..., Path]


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    """Generate each sample video once per module (ffmpeg encodes take ~50 ms each)."""
    folder = tmp_path_factory.mktemp("videos")
    made: dict[str, Path] = {}

    def make(name: str, **options: object) -> Path:
        if name not in made:
            path = folder / name
            if name.endswith((".mp3", ".ogg")):
                samples.audio(path, **options)  # type: ignore[arg-type]
            else:
                samples.video(path, **options)  # type: ignore[arg-type]
            made[name] = path
        return made[name]

    return make


def test_webm_is_accepted(upload: Upload, sample: Sample) -> None:
    result = upload(sample("clip.webm"), "clip.webm", is_op=True)
    assert (result.kind, result.ext, result.mime) == ("video", ".webm", "video/webm")
    assert (result.width, result.height) == (320, 240)
    assert result.duration == pytest.approx(1.0, abs=0.1)
    assert result.has_audio is True
    assert result.thumbnail is not None
    assert (result.thumb_width, result.thumb_height) == (250, 188)
    thumb = pyvips.Image.jpegload(str(result.thumbnail))
    assert (thumb.width, thumb.height) == (250, 188)
    assert result.original.read_bytes().startswith(b"\x1a\x45\xdf\xa3")


def test_mp4_is_accepted(upload: Upload, sample: Sample) -> None:
    path = sample("clip.mp4", container="mp4", vcodec="h264", acodec="aac", seconds=3)
    result = upload(path, "clip.mp4", is_op=False)
    assert (result.kind, result.ext, result.mime) == ("video", ".mp4", "video/mp4")
    assert (result.width, result.height) == (320, 240)
    assert result.duration == pytest.approx(3.0, abs=0.1)
    assert result.has_audio is True
    assert (result.thumb_width, result.thumb_height) == (125, 94)
    # faststart: the index comes before the media data.
    stored = result.original.read_bytes()
    assert stored.index(b"moov") < stored.index(b"mdat")


def test_video_without_audio(upload: Upload, sample: Sample) -> None:
    result = upload(sample("silent.webm", vcodec="vp8", acodec=None))
    assert result.has_audio is False
    assert result.kind == "video"


def test_video_metadata_is_removed(upload: Upload, sample: Sample) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("tagged.webm", {"metadata": True}),
        ("tagged.mp4", {"container": "mp4", "vcodec": "h264", "acodec": "aac", "metadata": True}),
    ]
    for name, options in cases:
        path = sample(name, **options)
        assert samples.SECRET in path.read_bytes()
        assert "secretcam" in samples.ffmpeg_info(path).lower()
        result = upload(path, name)
        stored = result.original.read_bytes()
        assert samples.SECRET not in stored
        assert samples.SECRET_PLACE.encode() not in stored
        info = samples.ffmpeg_info(result.original).lower()
        assert "secretcam" not in info
        assert "location" not in info
        assert "lavf6" not in info  # no encoder version either


def test_rotated_video_reports_the_displayed_size(upload: Upload, sample: Sample) -> None:
    path = sample("rotated.mp4", container="mp4", vcodec="h264", acodec=None, rotate=90)
    result = upload(path)
    assert (result.width, result.height) == (240, 320)
    assert (result.thumb_width, result.thumb_height) == (188, 250)


def test_thumbnail_is_taken_at_one_second_of_longer_videos(upload: Upload, sample: Sample, workdir: Path) -> None:
    result = upload(sample("long.webm", seconds=3))
    assert result.thumbnail is not None
    rebuilt = make_thumbnail(result.original, "video", 250, workdir)
    assert rebuilt is not None
    assert rebuilt[1:] == (250, 188)
    # testsrc shows a moving pattern: the frame at 1 s differs from the first one.
    first = workdir / "first.png"
    assert video_module.extract_frame(result.original, "webm", 0.0, first)
    at_one = workdir / "one.png"
    assert video_module.extract_frame(result.original, "webm", 1.0, at_one)
    assert pyvips.Image.pngload(str(first)).avg() != pyvips.Image.pngload(str(at_one)).avg()


def test_video_too_long(refuse: Refuse, sample: Sample) -> None:
    limits = MediaLimits(max_video_seconds=0.5)
    refuse(sample("clip.webm"), TooLarge, "The video is too long: 1.0 seconds, at most 0.5 seconds", limits=limits)


def test_video_frame_too_large(refuse: Refuse, sample: Sample) -> None:
    refuse(sample("clip.webm"), TooLarge, "320×240", limits=MediaLimits(max_dimension=300))


def test_truncated_video(refuse: Refuse, sample: Sample, tmp_path: Path) -> None:
    for name, options in [("cut.webm", {}), ("cut.mp4", {"container": "mp4", "vcodec": "h264", "acodec": "aac"})]:
        data = sample(name, seconds=2, **options).read_bytes()
        cut = tmp_path / f"truncated-{name}"
        cut.write_bytes(data[: len(data) * 2 // 3])
        refuse(cut, InvalidInput, "damaged or incomplete")


def test_corrupt_video(refuse: Refuse, sample: Sample, tmp_path: Path) -> None:
    data = bytearray(sample("corrupt-me.webm", seconds=2).read_bytes())
    for pos in range(len(data) // 3, len(data), 211):
        data[pos] ^= 0x5A
    broken = tmp_path / "broken.webm"
    broken.write_bytes(bytes(data))
    refuse(broken, InvalidInput, "damaged or incomplete")


def test_wrong_codec_for_the_container(refuse: Refuse, sample: Sample) -> None:
    # H.264 in Matroska: a WebM by signature, but not a codec WebM may carry.
    refuse(sample("h264.mkv", container="mkv", vcodec="h264", acodec=None), UnsupportedMedia, "WebM", "H.264 video")
    refuse(sample("mpeg4.mp4", container="mp4", vcodec="mpeg4", acodec=None), UnsupportedMedia, "MPEG-4 Part 2")


def test_webm_without_video(refuse: Refuse, tmp_path: Path) -> None:
    path = tmp_path / "voice.webm"
    samples.ffmpeg("-f", "lavfi", "-i", "sine", "-t", "1", "-c:a", "libopus", "-f", "webm", str(path))
    refuse(path, InvalidInput, "no video stream")


@pytest.mark.parametrize(
    ("content", "named"),
    [(samples.HLS_PLAYLIST, "HLS"), (samples.FFCONCAT, "ffconcat")],
)
def test_playlists_named_as_video(refuse: Refuse, tmp_path: Path, content: bytes, named: str) -> None:
    path = tmp_path / "movie.webm"
    path.write_bytes(content)
    refuse(path, UnsupportedMedia, "not allowed", named, name="movie.webm")


def test_matroska_header_then_playlist_is_damaged(refuse: Refuse, tmp_path: Path) -> None:
    # The EBML signature routes the file to the Matroska demuxer, which is forced: the
    # playlist after it is never interpreted, the file is just broken.
    path = tmp_path / "sneaky.webm"
    path.write_bytes(b"\x1a\x45\xdf\xa3" + samples.HLS_PLAYLIST)
    refuse(path, InvalidInput, "damaged or incomplete")


def test_mp3_is_accepted_when_allowed(upload: Upload, sample: Sample) -> None:
    path = sample("song.mp3", metadata=True)
    assert samples.SECRET in path.read_bytes()
    result = upload(path, "My Song.mp3")
    assert (result.kind, result.ext, result.mime) == ("audio", ".mp3", "audio/mpeg")
    assert (result.width, result.height) == (0, 0)
    assert result.duration == pytest.approx(1.0, abs=0.1)
    assert result.thumbnail is None
    assert (result.thumb_width, result.thumb_height) == (0, 0)
    assert result.filename == "My Song"
    stored = result.original.read_bytes()
    assert samples.SECRET not in stored
    assert b"Somebody Private" not in stored
    assert not stored.startswith(b"ID3")


@pytest.mark.parametrize("fmt", ["ogg", "ogg-vorbis"])
def test_ogg_is_accepted_when_allowed(upload: Upload, sample: Sample, fmt: str) -> None:
    path = sample(f"song-{fmt}.ogg", fmt=fmt, metadata=True)
    result = upload(path, "song.ogg")
    assert (result.kind, result.ext, result.mime) == ("audio", ".ogg", "audio/ogg")
    assert result.duration == pytest.approx(1.0, abs=0.1)
    assert result.thumbnail is None
    assert samples.SECRET not in result.original.read_bytes()


def test_audio_too_long(refuse: Refuse, sample: Sample) -> None:
    limits = MediaLimits(allowed=EVERYTHING.allowed, max_video_seconds=0.5)
    refuse(sample("song.mp3", metadata=True), TooLarge, "The audio file is too long", limits=limits)


def test_id3_tag_without_audio(refuse: Refuse, tmp_path: Path) -> None:
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x20" + b"\x00" * 32 + b"this is not audio at all " * 40)
    refuse(path, InvalidInput, "damaged or incomplete", "no playable streams")


def test_make_thumbnail_for_audio_is_none(sample: Sample, workdir: Path) -> None:
    assert make_thumbnail(sample("song.mp3", metadata=True), "audio", 125, workdir) is None


def test_ffmpeg_cannot_be_made_to_read_other_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command line forces the demuxer and the file protocol for every input."""
    seen: list[list[str]] = []
    real_run = video_module._run

    def spy(args: list[str], timeout: float) -> tuple[int, str]:
        seen.append(args)
        return real_run(args, timeout)

    monkeypatch.setattr(video_module, "_run", spy)
    path = samples.video(tmp_path / "spy.webm", seconds=1)
    video_module.probe(path, "webm")
    for args in seen:
        i = args.index("-i")
        assert args[i + 1].startswith("file:/")
        assert args[args.index("-protocol_whitelist") + 1] == "file"
        assert args[args.index("-f") + 1] == "matroska"
        assert args.index("-protocol_whitelist") < i

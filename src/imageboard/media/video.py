"""Video (WebM, MP4) and audio (MP3, Ogg) through the ffmpeg binary of imageio-ffmpeg.

ffmpeg runs as a subprocess: no shell, stdin closed, a timeout on every run, the input
demuxer forced from the detected format (never probed, so a file cannot turn itself into
an HLS playlist or a concat script), and only the ``file`` protocol allowed for reading.

A file goes through four runs (a video finished by a worker gets a fifth on the request
path, :func:`read_through`, so a broken container is still refused there):

1. *probe* the upload (``ffmpeg -i``, no output) for streams, codecs and sizes, so wrong
   codecs and oversized frames are refused before anything is decoded;
2. *remux* the first video and first audio stream into a fresh container, stream copy,
   without metadata or chapters (this is what gets stored);
3. *verify* the remuxed file: decode every key frame and all audio, and read its duration
   (the container we wrote always has one, unlike browser-recorded WebM);
4. extract one *frame* as PNG for the thumbnail (video only).

ffprobe is not shipped with imageio-ffmpeg, so facts are read from ffmpeg's own log
(``-loglevel level+info`` prefixes every line with its level). Only lines with the exact
layout of the input dump are read; metadata values, which an uploader controls, are
printed indented further and with a ``:`` and can never look like one of them.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from imageboard.media import refusals

PROBE_TIMEOUT = 20.0
PASS_TIMEOUT = 90.0  # remux and verify read the whole file; both are far faster than this
FRAME_TIMEOUT = 30.0
# A cap on any single allocation inside ffmpeg (a frame of the largest allowed size in
# 16-bit RGBA is 400 MB); a hostile header cannot make it ask for more.
MAX_ALLOC = 512 * 1024 * 1024
# Log lines are kept up to this size; a damaged file can make ffmpeg very talkative.
MAX_LOG = 256 * 1024

_DEMUXER = {"webm": "matroska", "mp4": "mov", "mp3": "mp3", "ogg": "ogg"}
_MUXER = {"webm": "webm", "mp4": "mp4", "mp3": "mp3", "ogg": "ogg"}
_MUXER_OPTIONS: dict[str, list[str]] = {
    "mp4": ["-movflags", "+faststart"],  # index first: playback starts before the download ends
    "mp3": ["-id3v2_version", "0"],  # no ID3 tag at all (it would only carry the encoder name)
}
_LABEL = {"webm": "WebM", "mp4": "MP4", "mp3": "MP3", "ogg": "Ogg"}
VIDEO_CODECS: dict[str, frozenset[str]] = {
    "webm": frozenset({"vp8", "vp9", "av1"}),
    "mp4": frozenset({"h264", "av1"}),
}
AUDIO_CODECS: dict[str, frozenset[str]] = {
    "webm": frozenset({"vorbis", "opus"}),
    "mp4": frozenset({"aac", "mp3", "opus"}),
    "mp3": frozenset({"mp3"}),
    "ogg": frozenset({"vorbis", "opus"}),
}
_EXPECTED = {
    "webm": "VP8, VP9 or AV1 video with Vorbis or Opus audio",
    "mp4": "H.264 or AV1 video with AAC, MP3 or Opus audio",
    "mp3": "MP3 audio",
    "ogg": "Vorbis or Opus audio",
}
_CODEC_NAMES = {
    "h264": "H.264", "hevc": "H.265/HEVC", "av1": "AV1", "vp8": "VP8", "vp9": "VP9", "mpeg4": "MPEG-4 Part 2",
    "aac": "AAC", "mp3": "MP3", "opus": "Opus", "vorbis": "Vorbis", "ac3": "AC-3", "eac3": "E-AC-3", "flac": "FLAC",
}  # fmt: skip

_LEVEL_PREFIX = r"^(?:\[[^\]\n]*\] )*"
_FAILURE = re.compile(_LEVEL_PREFIX + r"\[(?:panic|fatal|error)\]", re.MULTILINE)
_WARNING = re.compile(_LEVEL_PREFIX + r"\[warning\] (.*)$", re.MULTILINE)
# Warnings that mean the data is incomplete or broken rather than merely unusual.
_DAMAGE = re.compile(r"partial file|truncat|corrupt|ended prematurely|invalid data|error", re.IGNORECASE)
_DURATION = re.compile(r"^\[info\]   Duration: (?:(\d+):(\d{2}):(\d{2}(?:\.\d+)?)|N/A)", re.MULTILINE)
_STREAM = re.compile(
    r"^\[info\]   Stream #0:(\d+)(?:\[0x[0-9a-f]+\])?(?:\([^)\n]*\))?: (Video|Audio|Subtitle|Data|Attachment): "
    r"([A-Za-z0-9_]+)([^\n]*)$",
    re.MULTILINE,
)
_SIZE = re.compile(r"(?:^|, )(\d{1,6})x(\d{1,6})(?=[ ,]|$)")
_INPUT_END = re.compile(r"^\[info\] (?:Stream mapping:|Output #0)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Stream:
    kind: str  # "Video", "Audio", ...
    codec: str
    width: int = 0
    height: int = 0
    attached_picture: bool = False  # cover art shown as a video stream


@dataclass(frozen=True, slots=True)
class Probe:
    duration: float | None
    streams: tuple[Stream, ...]

    @property
    def video(self) -> Stream | None:
        return next((s for s in self.streams if s.kind == "Video" and not s.attached_picture), None)

    @property
    def audio(self) -> Stream | None:
        return next((s for s in self.streams if s.kind == "Audio"), None)


@dataclass(frozen=True, slots=True)
class Checked:
    """What a verified, remuxed file holds."""

    duration: float
    width: int
    height: int
    has_audio: bool


@functools.cache
def ffmpeg_exe() -> str:
    import imageio_ffmpeg  # the wheel finds (or unpacks) its binary on first use

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def codec_name(codec: str) -> str:
    return _CODEC_NAMES.get(codec, codec.upper())


def _run(args: list[str], timeout: float) -> tuple[int, str]:
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-max_alloc", str(MAX_ALLOC), *args]
    try:
        completed = subprocess.run(  # noqa: S603 (fixed binary, argument list, no shell)
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        # subprocess.run has killed and reaped ffmpeg already.
        raise refusals.timed_out() from None
    return completed.returncode, completed.stderr[:MAX_LOG].decode("utf-8", "replace")


def _input(path: Path, fmt: str) -> list[str]:
    args = ["-protocol_whitelist", "file", "-f", _DEMUXER[fmt]]
    if fmt == "mp4":
        # Data references can point at other files; they are off by default, and stay off.
        args += ["-enable_drefs", "0"]
    # The "file:" prefix keeps a path from being read as another protocol's URL.
    return [*args, "-i", f"file:{path.resolve()}"]


def _parse(log: str) -> Probe:
    end = _INPUT_END.search(log)
    dump = log[: end.start()] if end else log
    duration: float | None = None
    found = _DURATION.search(dump)
    if found and found.group(1) is not None:
        hours, minutes, seconds = found.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    streams: list[Stream] = []
    for match in _STREAM.finditer(dump):
        kind, codec, rest = match.group(2), match.group(3), match.group(4)
        width = height = 0
        if kind == "Video":
            size = _SIZE.search(rest.split(" [SAR")[0]) or _SIZE.search(rest)
            if size:
                width, height = int(size.group(1)), int(size.group(2))
        streams.append(Stream(kind, codec, width, height, "(attached pic)" in rest))
    return Probe(duration, tuple(streams))


def _damage(log: str) -> str | None:
    """Why the log says the data is broken, or None."""
    if _FAILURE.search(log):
        return "the data could not be read"
    for match in _WARNING.finditer(log):
        if _DAMAGE.search(match.group(1)):
            return "parts of the data are broken"
    return None


def probe(path: Path, fmt: str) -> Probe:
    # Without an output file ffmpeg prints the input and exits with 1; that is the probe.
    _, log = _run(["-loglevel", "level+info", *_input(path, fmt)], PROBE_TIMEOUT)
    result = _parse(log)
    if not result.streams:
        raise refusals.damaged("no playable streams were found")
    return result


def check_streams(result: Probe, fmt: str, is_video: bool) -> None:
    """Refuse missing streams and codecs the container may not carry on this site."""
    label = _LABEL[fmt]
    if is_video:
        video = result.video
        if video is None:
            raise refusals.no_stream(label, "video")
        if video.codec not in VIDEO_CODECS[fmt]:
            raise refusals.wrong_codec(label, f"{codec_name(video.codec)} video", _EXPECTED[fmt])
    audio = result.audio
    if audio is None:
        if not is_video:
            raise refusals.no_stream(label, "audio")
        return
    if audio.codec not in AUDIO_CODECS[fmt]:
        raise refusals.wrong_codec(label, f"{codec_name(audio.codec)} audio", _EXPECTED[fmt])


def remux(source: Path, target: Path, fmt: str, is_video: bool) -> None:
    """Copy the first video and audio stream into a new container without metadata."""
    maps = ["-map", "0:V:0", "-map", "0:a:0?"] if is_video else ["-map", "0:a:0"]
    code, log = _run(
        [
            "-loglevel", "level+warning",
            *_input(source, fmt),
            *maps,
            "-c", "copy",
            "-map_metadata", "-1",
            "-map_chapters", "-1",
            # bitexact: no encoder version strings or creation times in the output.
            "-fflags", "+bitexact", *(["-flags:v", "+bitexact"] if is_video else []), "-flags:a", "+bitexact",
            *_MUXER_OPTIONS.get(fmt, []),
            "-f", _MUXER[fmt],
            "-y", f"file:{target.resolve()}",
        ],
        PASS_TIMEOUT,
    )  # fmt: skip
    problem = _damage(log)
    if code != 0 or problem:
        raise refusals.damaged(problem or "the streams could not be copied")


def read_through(path: Path, fmt: str, is_video: bool) -> None:
    """Read every packet of the streams that would be kept, decoding nothing (a stream copy
    to the null muxer: milliseconds): a truncated or corrupt container is refused on the
    request path even when the remux and the decode are left to a worker."""
    maps = ["-map", "0:V:0", "-map", "0:a:0?"] if is_video else ["-map", "0:a:0"]
    code, log = _run(
        ["-loglevel", "level+warning", *_input(path, fmt), *maps, "-c", "copy", "-f", "null", "-"],
        PASS_TIMEOUT,
    )
    problem = _damage(log)
    if code != 0 or problem:
        raise refusals.damaged(problem or "the streams could not be read")


def verify(path: Path, fmt: str, is_video: bool) -> Probe:
    """Decode the key frames and all audio of a remuxed file; return what it holds."""
    maps = ["-map", "0:V:0", "-map", "0:a:0?"] if is_video else ["-map", "0:a:0"]
    # Key frames only: every other frame depends on one, and decoding them all would cost
    # as much as playing the whole video.
    skip = ["-skip_frame:v", "nokey"] if is_video else []
    code, log = _run(
        ["-loglevel", "level+info", *skip, *_input(path, fmt), *maps, "-f", "null", "-"],
        PASS_TIMEOUT,
    )
    problem = _damage(log)
    if code != 0 or problem:
        raise refusals.damaged(problem or "the streams could not be decoded")
    return _parse(log)


def extract_frame(path: Path, fmt: str, at: float, target: Path) -> bool:
    """Write the frame shown at ``at`` seconds as PNG (rotation applied). False when no
    frame came out (e.g. seeking past the last key frame of a very short video)."""
    target.unlink(missing_ok=True)
    code, log = _run(
        [
            "-loglevel", "level+error",
            "-ss", f"{at:.3f}",
            *_input(path, fmt),
            "-map", "0:V:0", "-an", "-sn", "-dn",
            "-frames:v", "1", "-update", "1",
            "-c:v", "png", "-compression_level", "1",
            "-f", "image2",
            "-y", f"file:{target.resolve()}",
        ],
        FRAME_TIMEOUT,
    )  # fmt: skip
    if code != 0 or _FAILURE.search(log):
        raise refusals.damaged("no picture could be decoded")
    return target.exists() and target.stat().st_size > 0

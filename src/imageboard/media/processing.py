"""An uploaded file in, a cleaned original and a thumbnail out — or a clear refusal.

:func:`process_upload` is synchronous and CPU-bound; callers run it in a worker thread.
The steps, for every kind of file:

1. size limit, then the format from the first bytes (``detect``), never from the name;
2. the container is parsed and cleaned without decoding (``strip`` for images, an ffmpeg
   remux for video and audio), and the dimensions from the header are checked against the
   limits *before* any pixel is decoded;
3. a full decode proves the file is what it claims (thumbnail, every animation frame,
   every key frame and the audio of a video);
4. hashes are taken of the cleaned original, which is what gets stored; the perceptual
   hash (``phash``) comes from the thumbnail's pixels, so nothing is decoded twice.

Temporary files live in ``workdir``; when a file is refused, none are left behind.

Videos may be split in two (``defer_video``): the request checks the signature, the streams,
the duration and the picture size from a probe — every refusal a person can act on — and
keeps the upload as it came; :func:`finish_video` later does steps 2 to 4 in a worker.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
from base64 import b64encode
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imageboard.media import images, refusals, video
from imageboard.media.detect import HEAD_BYTES, Format, contains_markup, identify
from imageboard.media.filenames import sanitize_filename
from imageboard.media.limits import MediaLimits
from imageboard.media.strip import (
    Cleaned,
    HiddenData,
    Malformed,
    clean_avif,
    clean_gif,
    clean_jpeg,
    clean_png,
    clean_webp,
)

__all__ = [
    "MAX_DECODER_BUFFER",
    "ProcessedFile",
    "finish_video",
    "make_thumbnail",
    "process_upload",
    "sanitize_filename",
]

# Decoders of progressive JPEGs and interlaced PNGs hold the whole image at once (the rest
# stream in strips); beyond this they are refused, which keeps one upload's peak memory
# near 300 MB whatever its shape.
MAX_DECODER_BUFFER = 200 * 1024 * 1024
# AVIF decoding (libheif and the AV1 decoder) holds the whole image several times over:
# measured ~15 bytes per pixel at peak, so this admits up to ~17 megapixels.
_AVIF_BYTES_PER_PIXEL = 12
_AVIF_MAX_PIXELS = MAX_DECODER_BUFFER // _AVIF_BYTES_PER_PIXEL

_CLEANERS: dict[str, Callable[[bytes], Cleaned]] = {
    "jpg": clean_jpeg,
    "png": clean_png,
    "gif": clean_gif,
    "webp": clean_webp,
    "avif": clean_avif,
}
_MEMORY_ADVICE = {
    "jpg": "progressive JPEGs of this size need too much memory; save it as a baseline JPEG or scale it down.",
    "png": "interlaced PNGs of this size need too much memory; save it without interlacing or scale it down.",
    "avif": f"AVIF images are accepted up to {_AVIF_MAX_PIXELS / 1e6:.0f} megapixels; scale it down or save it "
    "as JPEG or PNG.",
}


@dataclass(frozen=True)
class ProcessedFile:
    kind: Literal["image", "video", "audio"]
    ext: str  # canonical extension decided from content: ".jpg", ".png", ..., ".ogg"
    mime: str
    original: Path  # a temp file holding the cleaned original (metadata removed); caller moves/uploads it
    size: int
    sha256: str  # hex digest of the CLEANED original (this is what is stored and deduplicated)
    md5_base64: str  # base64 MD5 of the cleaned original
    width: int  # 0 for audio
    height: int
    duration: float | None
    has_audio: bool | None
    thumbnail: Path | None  # JPEG thumbnail temp file fitting the requested box (None for audio)
    thumb_width: int
    thumb_height: int
    filename: str  # sanitised display name WITHOUT extension
    # The perceptual hash (``media.phash``), taken from the thumbnail's pixels: None for audio
    # and for a video still pending (its worker takes it with the thumbnail).
    phash: int | None = None
    # A video only checked so far: ``original`` is the upload as it came (metadata and all),
    # and finish_video must still make its clean copy and thumbnail.
    pending: bool = False


class _Scratch:
    """The temporary files of one piece of work, all removed unless handed over."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.paths: list[Path] = []

    def new(self, suffix: str) -> Path:
        handle, name = tempfile.mkstemp(dir=self.workdir, prefix="media-", suffix=suffix)
        os.close(handle)
        path = Path(name)
        self.paths.append(path)
        return path

    def discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        if path in self.paths:
            self.paths.remove(path)

    def discard_all(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)
        self.paths.clear()


@dataclass(frozen=True, slots=True)
class _Result:
    original: Path
    width: int
    height: int
    duration: float | None
    has_audio: bool | None
    thumbnail: images.Thumbnail | None
    thumb_path: Path | None


def _check_pixels(width: int, height: int, limits: MediaLimits) -> None:
    if width > limits.max_dimension or height > limits.max_dimension or width * height > limits.max_pixels:
        raise refusals.too_many_pixels(width, height, limits)


def _clean_container(data: bytes, fmt: Format) -> Cleaned:
    try:
        return _CLEANERS[fmt.key](data)
    except Malformed as error:
        raise refusals.damaged(str(error)) from None
    except HiddenData:
        raise refusals.hidden_data() from None
    except (struct.error, IndexError, ValueError, OverflowError):
        # A parser bug must not become a crash; whatever confused it is not a sound file.
        raise refusals.damaged() from None


def _write(path: Path, cleaned: Cleaned) -> None:
    with path.open("wb") as out:
        out.writelines(cleaned.pieces)


def _process_image(source: Path, fmt: Format, limits: MediaLimits, box: int, scratch: _Scratch) -> _Result:
    data = source.read_bytes()
    cleaned = _clean_container(data, fmt)
    if fmt.key != "avif":  # AVIF sizes come from libheif's header read, below
        _check_pixels(cleaned.width, cleaned.height, limits)
    if cleaned.frames > limits.max_gif_frames:
        raise refusals.too_many_frames(cleaned.frames, limits)
    if cleaned.buffer_bytes > MAX_DECODER_BUFFER:
        raise refusals.needs_too_much_memory(_MEMORY_ADVICE[fmt.key])
    frames = cleaned.frames
    try:
        original = scratch.new(fmt.ext)
        orientation = 1
        if fmt.key == "jpg":
            # The clean copy only lacks metadata segments: its frame header is the upload's.
            width, height, orientation = images.jpeg_header(source)
        if orientation != 1:
            # Turning the pixels upright needs a re-encode; the lossless copy is not used.
            width, height = images.write_upright_jpeg(source, original)
        else:
            _write(original, cleaned)
            if fmt.key != "jpg":
                width, height = images.header(original, fmt.key)
        del data, cleaned  # the pieces are views of the upload; free them before decoding
        _check_pixels(width, height, limits)
        if fmt.key == "avif" and width * height > _AVIF_MAX_PIXELS:
            raise refusals.needs_too_much_memory(_MEMORY_ADVICE["avif"])
        if frames > 1:
            if width * height * frames > limits.max_animation_pixels:
                raise refusals.animation_too_large(width, height, frames, limits)
            if fmt.key in ("gif", "webp"):  # libvips does not decode APNG frames
                images.decode_all_frames(original, fmt.key)
        thumb_path = scratch.new(".jpg")
        thumb = images.thumbnail(original, fmt.key, box, thumb_path, size=(width, height))
    except images.VipsError:
        raise refusals.damaged("the picture could not be decoded") from None
    return _Result(original, width, height, None, None, thumb, thumb_path)


def _check_media(source: Path, fmt: Format, limits: MediaLimits) -> video.Probe:
    """What can be refused from a probe alone, before anything is decoded or copied."""
    is_video = fmt.kind == "video"
    found = video.probe(source, fmt.key)
    video.check_streams(found, fmt.key, is_video)
    if found.duration is not None and found.duration > limits.max_video_seconds:
        raise refusals.too_long("video" if is_video else "audio file", found.duration, limits)
    if is_video:
        stream = found.video
        assert stream is not None  # check_streams refused files without one
        if not stream.width or not stream.height:
            raise refusals.damaged("the picture size could not be read")
        _check_pixels(stream.width, stream.height, limits)
    return found


def _process_media(source: Path, fmt: Format, limits: MediaLimits, box: int, scratch: _Scratch) -> _Result:
    is_video = fmt.kind == "video"
    kind_word = "video" if is_video else "audio file"
    _check_media(source, fmt, limits)

    original = scratch.new(fmt.ext)
    video.remux(source, original, fmt.key, is_video)
    # Facts about what is stored come from the remuxed file, which carries no metadata
    # for an uploader to play with.
    stored = video.verify(original, fmt.key, is_video)
    video.check_streams(stored, fmt.key, is_video)
    if stored.duration is None:
        raise refusals.damaged("its duration could not be read")
    if stored.duration > limits.max_video_seconds:
        raise refusals.too_long(kind_word, stored.duration, limits)
    if not is_video:
        return _Result(original, 0, 0, stored.duration, None, None, None)
    stream = stored.video
    assert stream is not None
    _check_pixels(stream.width, stream.height, limits)
    width, height, thumb, thumb_path = _video_thumbnail(original, fmt, stored.duration, box, scratch)
    return _Result(original, width, height, stored.duration, stored.audio is not None, thumb, thumb_path)


def _video_thumbnail(
    path: Path, fmt: Format, duration: float, box: int, scratch: _Scratch
) -> tuple[int, int, images.Thumbnail, Path]:
    """Thumbnail of the frame at 1 s (0 s for videos of 2 s or less: the first frame of
    longer videos is often black). Also returns the displayed size (rotation applied)."""
    frame = scratch.new(".png")
    try:
        at = 1.0 if duration > 2.0 else 0.0
        found = video.extract_frame(path, fmt.key, at, frame)
        if not found and at:
            found = video.extract_frame(path, fmt.key, 0.0, frame)
        if not found:
            raise refusals.damaged("no picture could be decoded")
        try:
            width, height = images.header(frame, "png")
            thumb_path = scratch.new(".jpg")
            thumb = images.thumbnail(frame, "png", box, thumb_path, size=(width, height))
        except images.VipsError:
            raise refusals.damaged("no picture could be decoded") from None
    finally:
        scratch.discard(frame)
    return width, height, thumb, thumb_path


def _publishable(*paths: Path | None) -> None:
    """mkstemp creates files readable by their owner only; these are public files, and a
    web server running as another user may serve them straight from local storage."""
    for path in paths:
        if path is not None:
            path.chmod(0o644)


def _digests(path: Path) -> tuple[str, str]:
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)  # 4chan's API field; not used for security
    with path.open("rb") as stream:
        while block := stream.read(1024 * 1024):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), b64encode(md5.digest()).decode("ascii")


def _identify_allowed(head: bytes, limits: MediaLimits) -> Format:
    identified = identify(head)
    fmt = identified.format
    if fmt is None:
        raise refusals.not_allowed(limits, identified.description or "not a recognised image, video or audio file")
    if fmt.key not in limits.allowed:
        raise refusals.not_allowed(limits, f"of type {fmt.key.upper()}")
    if contains_markup(head):
        raise refusals.markup_inside()
    return fmt


def _read_head(path: Path) -> bytes:
    with path.open("rb") as stream:
        return stream.read(HEAD_BYTES)


def process_upload(
    source: Path,
    client_filename: str,
    limits: MediaLimits,
    *,
    is_op: bool,
    workdir: Path,
    defer_video: bool = False,
) -> ProcessedFile:
    """Validate, clean and thumbnail an uploaded file. Raises the core errors on refusal.

    ``source`` is left untouched. All temp files are created inside ``workdir``; on
    refusal nothing is left there. With ``defer_video`` a video is only checked: the result
    is ``pending``, its ``original`` is ``source`` itself and it has no thumbnail.
    """
    size = source.stat().st_size
    if size == 0:
        raise refusals.empty_file()
    if size > limits.max_file_bytes:
        raise refusals.file_too_big(size, limits)
    fmt = _identify_allowed(_read_head(source), limits)
    if defer_video and fmt.kind == "video":
        return _checked_video(source, fmt, limits, client_filename)
    return _finish(source, fmt, limits, limits.op_thumb if is_op else limits.reply_thumb, workdir, client_filename)


def _checked_video(source: Path, fmt: Format, limits: MediaLimits, client_filename: str) -> ProcessedFile:
    found = _check_media(source, fmt, limits)
    video.read_through(source, fmt.key, True)
    stream = found.video
    assert stream is not None
    sha256, md5_base64 = _digests(source)
    return ProcessedFile(
        kind="video",
        ext=fmt.ext,
        mime=fmt.mime,
        original=source,
        size=source.stat().st_size,
        sha256=sha256,
        md5_base64=md5_base64,
        width=stream.width,
        height=stream.height,
        duration=found.duration,
        has_audio=found.audio is not None,
        thumbnail=None,
        thumb_width=0,
        thumb_height=0,
        filename=sanitize_filename(client_filename),
        pending=True,
    )


def finish_video(original: Path, limits: MediaLimits, box: int, workdir: Path) -> ProcessedFile:
    """The deferred part of a video's processing: the remuxed clean copy, the decode that
    proves it sound and the thumbnail. Raises the core errors when the file turns out broken
    (a worker then marks it failed). ``filename`` of the result is empty."""
    fmt = identify(_read_head(original)).format
    if fmt is None or fmt.kind != "video":
        raise refusals.damaged("the stored file is not a video")
    return _finish(original, fmt, limits, box, workdir, None)


def _finish(
    source: Path, fmt: Format, limits: MediaLimits, box: int, workdir: Path, client_filename: str | None
) -> ProcessedFile:
    scratch = _Scratch(workdir)
    try:
        if fmt.kind == "image":
            result = _process_image(source, fmt, limits, box, scratch)
        else:
            result = _process_media(source, fmt, limits, box, scratch)
        sha256, md5_base64 = _digests(result.original)
        stored_size = result.original.stat().st_size
    except BaseException:
        scratch.discard_all()
        raise
    thumb = result.thumbnail
    _publishable(result.original, result.thumb_path)
    return ProcessedFile(
        kind=fmt.kind,
        ext=fmt.ext,
        mime=fmt.mime,
        original=result.original,
        size=stored_size,
        sha256=sha256,
        md5_base64=md5_base64,
        width=result.width,
        height=result.height,
        duration=result.duration,
        has_audio=result.has_audio,
        thumbnail=result.thumb_path,
        thumb_width=thumb.width if thumb is not None else 0,
        thumb_height=thumb.height if thumb is not None else 0,
        filename="" if client_filename is None else sanitize_filename(client_filename),
        phash=thumb.phash if thumb is not None else None,
    )


def make_thumbnail(original: Path, kind: str, box: int, workdir: Path) -> tuple[Path, int, int] | None:
    """(Re)build a JPEG thumbnail for an already-stored original — used by
    ``media rebuild-thumbnails``. None for audio (the placeholder is used)."""
    if kind == "audio":
        return None
    fmt = identify(_read_head(original)).format
    if fmt is None or fmt.kind != kind:
        raise refusals.damaged(f"the stored file is not a{'n' if kind == 'image' else ''} {kind}")
    scratch = _Scratch(workdir)
    try:
        if fmt.kind == "image":
            thumb_path = scratch.new(".jpg")
            try:
                thumb = images.thumbnail(original, fmt.key, box, thumb_path)
            except images.VipsError:
                raise refusals.damaged("the picture could not be decoded") from None
        else:
            stored = video.probe(original, fmt.key)
            _, _, thumb, thumb_path = _video_thumbnail(original, fmt, stored.duration or 0.0, box, scratch)
        _publishable(thumb_path)
        return thumb_path, thumb.width, thumb.height
    except BaseException:
        scratch.discard_all()
        raise

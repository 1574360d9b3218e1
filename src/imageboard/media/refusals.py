"""The refusals of an upload, one function each, so every message reads the same way.

All of them concern the form field ``upfile``. Status codes come from the error classes:
400 for a damaged file, 413 for anything too big, 415 for a type the board does not take.
"""

from __future__ import annotations

from collections.abc import Sequence

from imageboard.core.errors import InvalidInput, TooLarge, UnsupportedMedia
from imageboard.media.limits import MediaLimits, allowed_kinds, describe_allowed
from imageboard.media.schemas import IngestedFile

FIELD = "upfile"


def _megabytes(size: int) -> str:
    value = size / (1024 * 1024)
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} MB"


def empty_file() -> InvalidInput:
    return InvalidInput("The file is empty. Choose the file again and retry.", field=FIELD)


def file_too_big(size: int, limits: MediaLimits) -> TooLarge:
    return TooLarge(
        f"The file is too large: {_megabytes(size)}, at most {_megabytes(limits.max_file_bytes)} allowed.",
        field=FIELD,
    )


def not_allowed(limits: MediaLimits, what: str | None = None, *, board: str | None = None) -> UnsupportedMedia:
    where = f"/{board}/" if board else "this board"
    message = f"This file type is not allowed on {where}: allowed are {describe_allowed(limits.allowed)}."
    if what:
        message += f" (The file is {what}.)"
    return UnsupportedMedia(message, field=FIELD)


def refuse_unlisted_kinds(files: Sequence[IngestedFile], *, allowed_media: str, board: str) -> None:
    """Refuse checked files of a type the board's ``allowed_media`` no longer lists: its
    settings may change between an upload's checks and the post's write."""
    limits = MediaLimits(allowed=allowed_kinds(allowed_media))
    for file in files:
        kind = file.ext.removeprefix(".")
        if kind not in limits.allowed:
            raise not_allowed(limits, f"of type {kind.upper()}", board=board)


def damaged(detail: str | None = None) -> InvalidInput:
    message = "The file is damaged or incomplete"
    if detail:
        message += f" ({detail})"
    return InvalidInput(message + ". Save it again or upload another copy.", field=FIELD)


def hidden_data() -> UnsupportedMedia:
    return UnsupportedMedia(
        "The file has extra data hidden after the end of the image, so it was refused. "
        "Save it again with an image editor and retry.",
        field=FIELD,
    )


def markup_inside() -> UnsupportedMedia:
    return UnsupportedMedia(
        "The file contains HTML or script code, so it was refused. Save it again with an image editor and retry.",
        field=FIELD,
    )


def too_many_pixels(width: int, height: int, limits: MediaLimits) -> TooLarge:
    return TooLarge(
        f"The image is too large: {width}×{height} pixels, at most {limits.max_pixels:,} pixels "
        f"and {limits.max_dimension:,} pixels per side allowed. Scale it down and retry.",
        field=FIELD,
    )


def needs_too_much_memory(advice: str) -> TooLarge:
    return TooLarge(f"The image is too large to process in this form: {advice}", field=FIELD)


def too_many_frames(frames: int, limits: MediaLimits) -> TooLarge:
    return TooLarge(
        f"The animation has too many frames: {frames:,}, at most {limits.max_gif_frames:,} allowed.",
        field=FIELD,
    )


def animation_too_large(width: int, height: int, frames: int, limits: MediaLimits) -> TooLarge:
    return TooLarge(
        f"The animation is too large: {width}×{height} pixels in {frames:,} frames, at most "
        f"{limits.max_animation_pixels:,} pixels in all frames together allowed. "
        "Make it smaller or shorter and retry.",
        field=FIELD,
    )


def too_long(kind: str, seconds: float, limits: MediaLimits) -> TooLarge:
    return TooLarge(
        f"The {kind} is too long: {seconds:.1f} seconds, at most {limits.max_video_seconds:g} seconds allowed.",
        field=FIELD,
    )


def wrong_codec(container: str, found: str, expected: str) -> UnsupportedMedia:
    return UnsupportedMedia(
        f"This {container} file uses {found}, which is not accepted: {container} files must use {expected}. "
        "Convert it and retry.",
        field=FIELD,
    )


def no_stream(container: str, what: str) -> InvalidInput:
    return InvalidInput(f"The {container} file has no {what} stream.", field=FIELD)


def timed_out() -> InvalidInput:
    return InvalidInput(
        "The file could not be processed in time; it may be damaged. Save it again or upload another copy.",
        field=FIELD,
    )

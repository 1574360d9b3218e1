"""What a board accepts: file types and the size, pixel, frame and duration limits.

Limits are explicit values (DESIGN.md, reliability habits): a board's settings build one
``MediaLimits`` and hand it to :func:`imageboard.media.processing.process_upload`.
"""

from __future__ import annotations

from dataclasses import dataclass

# Every type the media context can process, in the order they are listed to people.
KNOWN_TYPES: tuple[str, ...] = ("jpg", "png", "gif", "webp", "avif", "webm", "mp4", "mp3", "ogg")

DEFAULT_ALLOWED: frozenset[str] = frozenset({"jpg", "png", "gif", "webp", "avif", "webm", "mp4"})


@dataclass(frozen=True)
class MediaLimits:
    allowed: frozenset[str] = DEFAULT_ALLOWED  # a board may add "mp3" and "ogg"
    max_file_bytes: int = 8 * 1024 * 1024
    max_pixels: int = 50_000_000  # decompression-bomb guard, width*height, checked from the header
    max_dimension: int = 10_000  # either side
    max_video_seconds: float = 300.0  # also the limit for audio files
    max_gif_frames: int = 1000  # also applies to animated WebP and APNG
    op_thumb: int = 250  # thumbnail box for opening posts
    reply_thumb: int = 125  # ... for replies
    # Every frame of an animation is decoded once to prove the file is sound; this bounds
    # that work (width*height*frames). 250 MP is ~2.5 s of GIF or ~8 s of WebP decoding.
    max_animation_pixels: int = 250_000_000


def allowed_kinds(setting: str) -> frozenset[str]:
    """A board's ``allowed_media`` setting ("jpg,png,gif") as the set of types it takes."""
    return frozenset(kind for kind in setting.split(",") if kind)


def describe_allowed(allowed: frozenset[str]) -> str:
    """The allowed types in a stable order, for messages: "JPG, PNG, GIF"."""
    names = [name.upper() for name in KNOWN_TYPES if name in allowed]
    return ", ".join(names) if names else "none"

"""What the media context hands out about a stored file attached to a post."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MediaKind = Literal["image", "video", "audio"]
FileStatus = Literal["ready", "processing", "failed"]


@dataclass(frozen=True, slots=True)
class FileView:
    """A file as shown with its post. URLs follow 4chan's layout under the media base URL:
    ``{base}/{board}/{tim}{ext}`` for the original, ``{base}/{board}/{tim}s.jpg`` for the
    thumbnail (or the spoiler image when the file is spoilered)."""

    tim: int                  # unique integer per attached file (4chan: ms timestamp + digits)
    filename: str             # original name without extension, sanitised for display
    ext: str                  # ".jpg", ".png", ".gif", ".webp", ".avif", ".webm", ".mp4", ".mp3", ".ogg"
    kind: MediaKind
    mime: str
    size: int                 # bytes of the stored original
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    md5_base64: str           # base64 of the MD5 digest, as 4chan's API gives it
    sha256: str               # hex; the storage key of the blob
    spoiler: bool
    duration: float | None    # seconds, video and audio
    has_audio: bool | None    # video: whether it carries an audio stream
    url: str
    thumb_url: str
    deleted: bool = False     # the post stays, its file was removed (4chan's filedeleted)
    status: FileStatus = "ready"  # processing: a worker still makes the thumbnail and clean copy

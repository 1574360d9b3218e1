"""What the media context hands out about files: as shown with a post, as stored by an
upload (ready to attach), and as the media routes serve it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imageboard.media.storage import original_key, thumbnail_key

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


class _StorageKeys:
    """Where a stored file's original and thumbnail are: content-addressed keys."""

    __slots__ = ()
    sha256: str
    ext: str
    thumb_box: int  # 0: no thumbnail was made

    @property
    def key(self) -> str:
        return original_key(self.sha256, self.ext)

    @property
    def thumb_key(self) -> str | None:
        return thumbnail_key(self.sha256, self.thumb_box) if self.thumb_box else None


@dataclass(frozen=True, slots=True)
class IngestedFile(_StorageKeys):
    """An upload checked, cleaned and stored; ready to attach to a post."""

    sha256: str
    md5_base64: str
    size: int
    mime: str
    ext: str
    kind: MediaKind
    width: int
    height: int
    duration: float | None
    has_audio: bool | None
    filename: str
    spoiler: bool
    thumb_box: int  # 0: no thumbnail was made
    thumb_width: int
    thumb_height: int
    phash: int | None = None  # 64-bit dHash for file bans (None: audio, or a video still processing)
    # A video stored as uploaded, for a worker to finish (media.tasks); ``pending_box`` is
    # the thumbnail size it is to get.
    pending: bool = False
    pending_box: int = 0


@dataclass(frozen=True, slots=True)
class StoredFile(_StorageKeys):
    """A file as the media routes need it."""

    board_uri: str
    tim: int
    sha256: str
    ext: str
    mime: str
    size: int
    filename: str
    deleted: bool
    thumb_box: int

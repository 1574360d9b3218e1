"""Files attached to posts: validation, thumbnails, metadata removal, storage."""

from imageboard.media.schemas import FileView, MediaKind

__all__ = ["FileView", "MediaKind"]

"""Files attached to posts: validation, thumbnails, metadata removal, storage, serving."""

from imageboard.media.limits import MediaLimits, describe_allowed
from imageboard.media.phash import perceptual_hash
from imageboard.media.refusals import refuse_unlisted_kinds
from imageboard.media.schemas import FileView, IngestedFile, MediaKind, StoredFile
from imageboard.media.service import MediaService
from imageboard.media.storage import BlobStorage, make_storage, storage_from_settings

__all__ = [
    "BlobStorage",
    "FileView",
    "IngestedFile",
    "MediaKind",
    "MediaLimits",
    "MediaService",
    "StoredFile",
    "describe_allowed",
    "make_storage",
    "perceptual_hash",
    "refuse_unlisted_kinds",
    "storage_from_settings",
]

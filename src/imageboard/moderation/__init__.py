"""Moderation: reports, bans and appeals, warnings, the approval queue, word filters, file
bans, the mod log, and the staff pages.

Other contexts use only what is exported here. The media context checks uploads with
``check_file`` inside its posting transaction, with the perceptual hash media took of the
file (``imageboard.media.perceptual_hash``); the composition root builds a
``ModerationService`` and hands its ``screen`` to the boards service.
"""

from imageboard.moderation.errors import Banned, FileBanned, MissingPermission, Warned
from imageboard.moderation.filters import FilterTimeout
from imageboard.moderation.schemas import BanRequest, PurgeResult
from imageboard.moderation.service import ModerationService
from imageboard.moderation.services.admin import check_file
from imageboard.moderation.services.base import FilePort
from imageboard.moderation.tasks import purge_old_ips

file_hash_banned = check_file

__all__ = [
    "BanRequest",
    "Banned",
    "FileBanned",
    "FilePort",
    "FilterTimeout",
    "MissingPermission",
    "ModerationService",
    "PurgeResult",
    "Warned",
    "check_file",
    "file_hash_banned",
    "purge_old_ips",
]

"""What every moderation use case shares: the database, the clock, the mod log, and what a
viewer may see of an address."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from imageboard.accounts import Actor, Permission
from imageboard.boards.staff import FileCounter
from imageboard.core.db import Database, ReadSession, WriteSession
from imageboard.events import EventPublisher
from imageboard.moderation import ips
from imageboard.moderation import repository as repo
from imageboard.moderation.models import Appeal, Ban, ModLogEntry
from imageboard.moderation.schemas import AppealView, BanView

MAX_REASON = 2000
SYSTEM_ACTOR = "system"


class FilePort(Protocol):
    """What moderation needs from the media context, inside the caller's unit of work."""

    async def delete_files_of_posts(self, session: WriteSession, post_ids: Sequence[int]) -> int: ...

    async def spoiler_files_of_posts(self, session: WriteSession, post_ids: Sequence[int]) -> int: ...

    async def file_hashes_of_posts(
        self, session: ReadSession | WriteSession, post_ids: Sequence[int]
    ) -> list[tuple[str, int | None]]: ...

    async def count_live_files(self, session: ReadSession | WriteSession, post_ids: Sequence[int]) -> int: ...


class StoredImage(Protocol):
    @property
    def name(self) -> str: ...


class ImagePort(Protocol):
    """Where board banners and spoiler images are checked and stored (the media context).
    ``store`` raises a DomainError saying what to change when it refuses an image."""

    async def store(self, board: str, purpose: Literal["banner", "spoiler"], upload: Any) -> StoredImage: ...

    async def remove(self, board: str, name: str) -> None: ...

    async def content(self, board: str, name: str) -> ImageContent | None: ...


class ImageContent(Protocol):
    """A stored image to send: a redirect to ``public_url``, else ``size`` bytes of ``chunks``."""

    @property
    def mime(self) -> str: ...

    @property
    def public_url(self) -> str | None: ...

    @property
    def size(self) -> int: ...

    @property
    def chunks(self) -> AsyncIterator[bytes] | None: ...


@dataclass
class Context:
    db: Database
    clock: Callable[[], datetime]
    files: FilePort | None = None
    images: ImagePort | None = None
    # Every action records its domain events here, in the action's own transaction.
    events: EventPublisher = field(default_factory=EventPublisher)

    @property
    def file_counter(self) -> FileCounter | None:
        """What rebuilds a thread's image count after staff remove posts or files."""
        return self.files.count_live_files if self.files is not None else None


async def log(
    session: WriteSession,
    now: datetime,
    actor: Actor | str,
    action: str,
    board: str | None,
    target: str,
    reason: str = "",
) -> None:
    """One line of the mod log. Never holds an address: the board's log is public."""
    await repo.add_log(
        session,
        ModLogEntry(
            created_at=now,
            actor=actor if isinstance(actor, str) else actor.username,
            board_uri=board,
            action=action,
            target=target[:100],
            reason=reason[:MAX_REASON],
        ),
    )


def post_target(board: str, no: int) -> str:
    return f"/{board}/{no}"


def shown_ip(actor: Actor | None, board: str | None, ip: str | None) -> str | None:
    """An address as this viewer may see it: whole for moderators, masked for janitors,
    not at all for anyone else."""
    if ip is None or actor is None:
        return None
    if actor.can(Permission.VIEW_IP, board):
        return ip
    if actor.can(Permission.VIEW_IP_MASKED, board):
        return ips.mask(ip)
    return None


def shown_network(actor: Actor | None, ban: Ban) -> str | None:
    if ban.network is None or actor is None:
        return None
    if actor.can(Permission.VIEW_IP, ban.board_uri):
        return ban.network
    if actor.can(Permission.VIEW_IP_MASKED, ban.board_uri):
        address, _, prefix = ban.network.partition("/")
        return ips.mask(address) + (f"/{prefix}" if prefix else "")
    return None


def clean_reason(text: str, *, required: bool = False, field: str = "reason") -> str:
    from imageboard.core.errors import InvalidInput

    value = text.replace("\r\n", "\n").strip()
    if required and not value:
        raise InvalidInput("Give a reason.", field=field)
    if len(value) > MAX_REASON:
        raise InvalidInput(f"At most {MAX_REASON} characters, please.", field=field)
    return value


def appeal_view(appeal: Appeal) -> AppealView:
    return AppealView(
        id=appeal.id,
        ban_id=appeal.ban_id,
        text=appeal.text,
        created_at=appeal.created_at,
        status=appeal.status,
        decided_at=appeal.decided_at,
        decided_by=appeal.decided_by,
        response=appeal.response,
    )


def ban_view(ban: Ban, now: datetime, *, network: str | None, appeals: Sequence[Appeal] = ()) -> BanView:
    return BanView(
        id=ban.id,
        board=ban.board_uri,
        network=network,
        reason=ban.reason,
        post_board=ban.post_board,
        post_no=ban.post_no,
        public_mark=ban.public_mark,
        created_at=ban.created_at,
        expires_at=ban.expires_at,
        created_by=ban.created_by,
        revoked_at=ban.revoked_at,
        revoked_by=ban.revoked_by,
        active=ban.revoked_at is None and (ban.expires_at is None or ban.expires_at > now),
        appeals=[appeal_view(a) for a in appeals],
    )

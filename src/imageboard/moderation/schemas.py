"""What the moderation context takes in and hands out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from imageboard.boards.staff import StaffPost

BanScope = Literal["board", "site"]
DeleteScope = Literal["thread", "board", "site"]
BoardCreation = Literal["open", "admins"]
BOARD_CREATION_MODES: tuple[BoardCreation, ...] = ("open", "admins")
THREAD_FLAGS = ("sticky", "locked", "cyclic")

DEFAULT_GLOBAL_RULES = (
    "Do not post anything that is illegal where this site is hosted.\n"
    "No spam, advertising or flooding.\n"
    "No personal information about others."
)


@dataclass(frozen=True, slots=True)
class BanRequest:
    """A ban as a moderator fills in the form. ``hours`` 0 is permanent; ``prefix`` None bans
    the single address, else the range of that many leading bits around it."""

    reason: str
    hours: int = 0
    scope: BanScope = "board"
    prefix: int | None = None
    public_mark: bool = False
    mark_text: str = ""


@dataclass(frozen=True, slots=True)
class AppealView:
    id: int
    ban_id: int
    text: str
    created_at: datetime
    status: str
    decided_at: datetime | None
    decided_by: str | None
    response: str


@dataclass(frozen=True, slots=True)
class BanView:
    id: int
    board: str | None  # None: every board
    network: str | None  # as the viewer may see it: full, masked, or None
    reason: str
    post_board: str | None
    post_no: int | None
    public_mark: bool
    created_at: datetime
    expires_at: datetime | None
    created_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    active: bool
    appeals: list[AppealView] = field(default_factory=list)

    @property
    def permanent(self) -> bool:
        return self.expires_at is None

    @property
    def open_appeal(self) -> AppealView | None:
        return next((a for a in self.appeals if a.status == "open"), None)


@dataclass(frozen=True, slots=True)
class WarningView:
    id: int
    board: str | None
    reason: str
    post_board: str | None
    post_no: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class BanPage:
    """What /banned shows the visitor: their active bans and the warnings not yet seen."""

    bans: list[BanView]
    warnings: list[WarningView]


@dataclass(frozen=True, slots=True)
class ReportView:
    id: int
    board: str
    post_no: int
    is_global: bool
    reason: str
    created_at: datetime
    status: str
    handled_by: str | None
    reporter: str | None  # the reporter's address as the viewer may see it


@dataclass(frozen=True, slots=True)
class ReportGroup:
    """The open reports of one post, with the post."""

    post: StaffPost
    reports: list[ReportView]


@dataclass(frozen=True, slots=True)
class AppealItem:
    ban: BanView
    appeal: AppealView


@dataclass(frozen=True, slots=True)
class ModLogView:
    id: int
    created_at: datetime
    actor: str | None  # None: hidden ("Staff")
    board: str | None
    action: str
    target: str
    reason: str


@dataclass(frozen=True, slots=True)
class FilterView:
    id: int
    board: str | None
    pattern: str
    is_regex: bool
    action: str
    replacement: str
    ban_hours: int
    reason: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class FileBanView:
    id: int
    board: str | None
    sha256: str | None
    phash: str | None
    distance: int
    reason: str
    created_at: datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class SiteSettings:
    global_rules: str
    board_creation: BoardCreation
    ip_retention_days: int

    @property
    def rule_list(self) -> list[str]:
        return [line.strip() for line in self.global_rules.splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class Dashboard:
    board_reports: list[ReportGroup]
    global_reports: list[ReportGroup]
    held: list[StaffPost]
    appeals: list[AppealItem]
    boards: list[str]  # boards the viewer holds a role on (every board for site staff)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    post_ips: int
    report_ips: int
    warnings: int
    bans: int

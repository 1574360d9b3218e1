"""Running boards and the site: word filters, file bans, board settings and staff, site
settings, board creation, and reading the mod log."""

from __future__ import annotations

from typing import Any, get_args

from pydantic import ValidationError

from imageboard.accounts import AccountsService, Actor, BoardRole, Permission
from imageboard.boards import BoardSpec, BoardsService, BoardView, staff
from imageboard.boards.staff import BoardSettings
from imageboard.core.errors import Forbidden, InvalidInput, NotFound
from imageboard.events import BoardUpdated
from imageboard.moderation import phash
from imageboard.moderation import repository as repo
from imageboard.moderation.errors import FileBanned, require
from imageboard.moderation.filters import FILTER_ACTIONS, FilterAction, FilterRule, compile_pattern
from imageboard.moderation.models import FileBan, ModLogEntry, WordFilter
from imageboard.moderation.schemas import (
    BOARD_CREATION_MODES,
    DEFAULT_GLOBAL_RULES,
    BoardCreation,
    FileBanView,
    FilterView,
    ModLogView,
    SiteSettings,
)
from imageboard.moderation.services.base import Context, clean_reason, log

MAX_TEXT_SETTING = 10_000
MAX_DISTANCE = 16
DEFAULT_RETENTION_DAYS = 30
_SHA256 = frozenset("0123456789abcdef")


class AdminService:
    def __init__(self, ctx: Context, boards: BoardsService, accounts: AccountsService) -> None:
        self.ctx = ctx
        self.boards = boards
        self.accounts = accounts

    # --- word filters ----------------------------------------------------------------------

    async def filters(self, actor: Actor) -> list[FilterView]:
        async with self.ctx.db.reader() as session:
            rows = await repo.all_filters(session)
        return [_filter_view(r) for r in rows if actor.can(Permission.MANAGE_FILTERS, r.board_uri)]

    async def filter_rules(self, board: str) -> list[FilterRule]:
        """The filters a post on ``board`` runs through: the site's, then the board's."""
        async with self.ctx.db.reader() as session:
            rows = await repo.filters_for(session, board)
        return [filter_rule(r) for r in rows]

    async def add_filter(
        self,
        actor: Actor,
        board: str | None,
        pattern: str,
        *,
        is_regex: bool,
        action: str,
        replacement: str = "",
        ban_hours: int = 0,
        reason: str = "",
    ) -> FilterView:
        require(actor, Permission.MANAGE_FILTERS, board)
        if action not in FILTER_ACTIONS:
            raise InvalidInput("A filter replaces, refuses or bans.", field="action")
        if not 0 <= ban_hours <= 24 * 365 * 10:
            raise InvalidInput("Ban hours are 0 (permanent) to 87600.", field="ban_hours")
        if len(replacement) > 500:
            raise InvalidInput("A replacement has at most 500 characters.", field="replacement")
        compile_pattern(pattern, is_regex=is_regex)  # refuses what cannot run safely
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            if board is not None:
                await staff.board_or_404(session, board)
            row = await repo.add_filter(
                session,
                WordFilter(
                    board_uri=board,
                    pattern=pattern,
                    is_regex=is_regex,
                    action=action,
                    replacement=replacement,
                    ban_hours=ban_hours,
                    reason=clean_reason(reason)[:300],
                    created_at=now,
                    created_by=actor.username,
                ),
            )
            await log(session, now, actor, "add_filter", board, f"filter #{row.id}")
            return _filter_view(row)

    async def delete_filter(self, actor: Actor, filter_id: int) -> None:
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            row = await repo.filter_by_id(session, filter_id)
            if row is None:
                raise NotFound("There is no such filter.", code="filter_not_found")
            require(actor, Permission.MANAGE_FILTERS, row.board_uri)
            await log(session, now, actor, "delete_filter", row.board_uri, f"filter #{row.id}")
            await repo.delete_filter(session, row)

    # --- file bans ---------------------------------------------------------------------------

    async def file_bans(self, actor: Actor) -> list[FileBanView]:
        async with self.ctx.db.reader() as session:
            rows = await repo.all_file_bans(session)
        return [_file_ban_view(r) for r in rows if actor.can(Permission.MANAGE_FILTERS, r.board_uri)]

    async def add_file_ban(
        self,
        actor: Actor,
        board: str | None,
        *,
        sha256: str = "",
        perceptual: str = "",
        distance: int = 0,
        reason: str = "",
    ) -> FileBanView:
        require(actor, Permission.MANAGE_FILTERS, board)
        digest = sha256.strip().lower() or None
        if digest is not None and (len(digest) != 64 or not set(digest) <= _SHA256):
            raise InvalidInput("A SHA-256 is 64 hex digits.", field="sha256")
        hashed: str | None = None
        if perceptual.strip():
            try:
                hashed = phash.to_hex(phash.from_hex(perceptual))
            except ValueError as exc:
                raise InvalidInput(f"Perceptual hash: {exc}.", field="phash") from None
        if digest is None and hashed is None:
            raise InvalidInput("Give a SHA-256 or a perceptual hash.", field="sha256")
        if not 0 <= distance <= MAX_DISTANCE:
            raise InvalidInput(f"The distance is 0 to {MAX_DISTANCE} bits.", field="distance")
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            if board is not None:
                await staff.board_or_404(session, board)
            row = await repo.add_file_ban(
                session,
                FileBan(
                    board_uri=board,
                    sha256=digest,
                    phash=hashed,
                    distance=distance,
                    reason=clean_reason(reason)[:300],
                    created_at=now,
                    created_by=actor.username,
                ),
            )
            await log(session, now, actor, "add_file_ban", board, f"file ban #{row.id}")
            return _file_ban_view(row)

    async def delete_file_ban(self, actor: Actor, ban_id: int) -> None:
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            row = await repo.file_ban_by_id(session, ban_id)
            if row is None:
                raise NotFound("There is no such file ban.", code="file_ban_not_found")
            require(actor, Permission.MANAGE_FILTERS, row.board_uri)
            await log(session, now, actor, "delete_file_ban", row.board_uri, f"file ban #{row.id}")
            await repo.delete_row(session, row)

    # --- boards --------------------------------------------------------------------------------

    async def board_settings(self, actor: Actor, board: str) -> BoardSettings:
        require(actor, Permission.EDIT_BOARD, board)
        async with self.ctx.db.reader() as session:
            return await staff.board_settings(session, board)

    async def public_board_settings(self, board: str) -> BoardSettings:
        async with self.ctx.db.reader() as session:
            return await staff.board_settings(session, board)

    async def update_board(self, actor: Actor, board: str, values: dict[str, Any]) -> None:
        """Change a board's settings; ``values`` are the form's BoardSpec fields and the
        moderation settings (rules, announcement, approval queue, mod log, IP retention)."""
        require(actor, Permission.EDIT_BOARD, board)
        spec_values = {k: v for k, v in values.items() if k in staff.SPEC_SETTINGS}
        async with self.ctx.db.reader() as session:
            current = (await staff.board_settings(session, board)).board
        try:
            spec = BoardSpec(uri=board, **{**{k: getattr(current, k) for k in staff.SPEC_SETTINGS}, **spec_values})
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0]) if first["loc"] else "settings"
            raise InvalidInput(f"{name}: {first['msg'].removeprefix('Value error, ')}", field=name) from None
        changes: dict[str, Any] = {k: getattr(spec, k) for k in spec_values}
        for name in ("rules", "announcement"):
            if name in values:
                text = str(values[name]).replace("\r\n", "\n").strip()
                if len(text) > MAX_TEXT_SETTING:
                    raise InvalidInput(f"{name}: at most {MAX_TEXT_SETTING} characters.", field=name)
                changes[name] = text
        for name in ("hold_threads", "hold_links_files", "hold_new_posters", "modlog_show_names"):
            if name in values:
                changes[name] = bool(values[name])
        if "ip_retention_days" in values:
            changes["ip_retention_days"] = _days(values["ip_retention_days"])
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            before = await staff.board_settings(session, board)
            changed = sorted(name for name, value in changes.items() if _setting(before, name) != value)
            await staff.update_board_settings(session, board, changes, now)
            if changed:
                self.ctx.events.record(session, BoardUpdated(board=board, fields=changed))
            await log(session, now, actor, "board_settings", board, f"/{board}/")

    async def board_staff(self, actor: Actor, board: str) -> list[tuple[str, str]]:
        require(actor, Permission.MANAGE_BOARD_STAFF, board)
        return await self.accounts.board_staff(board)

    async def set_board_staff(self, actor: Actor, board: str, username: str, role: str) -> None:
        """Appoint or remove board staff. Owners may appoint moderators and janitors; only
        site staff who manage every board's staff may appoint or remove owners."""
        require(actor, Permission.MANAGE_BOARD_STAFF, board)
        new_role = None if role in ("", "none") else _board_role(role)
        current = dict(await self.accounts.board_staff(board)).get(username.strip().lower())
        if BoardRole.OWNER in (new_role, current) and not actor.can(Permission.MANAGE_BOARD_STAFF):
            raise Forbidden("Only site administrators appoint or remove board owners.", code="missing_permission")
        async with self.ctx.db.reader() as session:
            await staff.board_or_404(session, board)
        await self.accounts.set_board_role(username, board, new_role)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            await log(session, now, actor, "board_staff", board, username.strip().lower()[:32], new_role or "removed")

    async def create_board(self, actor: Actor, spec: BoardSpec) -> BoardView:
        """Site staff with the right create boards; when the site allows it, any signed-in
        user may, and becomes the new board's owner."""
        site = await self.site_settings()
        if not actor.can(Permission.CREATE_ANY_BOARD) and site.board_creation != "open":
            require(actor, Permission.CREATE_ANY_BOARD, None)
        board = await self.boards.create_board(spec)
        if not actor.can(Permission.CREATE_ANY_BOARD):
            await self.accounts.set_board_role(actor.username, board.uri, BoardRole.OWNER)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            await log(session, now, actor, "create_board", board.uri, f"/{board.uri}/")
        return board

    # --- site settings -----------------------------------------------------------------------

    async def site_settings(self) -> SiteSettings:
        async with self.ctx.db.reader() as session:
            values = await repo.site_settings(session)
        creation = values.get("board_creation", "admins")
        try:
            retention = int(values.get("ip_retention_days", DEFAULT_RETENTION_DAYS))
        except ValueError:
            retention = DEFAULT_RETENTION_DAYS
        return SiteSettings(
            global_rules=values.get("global_rules", DEFAULT_GLOBAL_RULES),
            board_creation=creation if creation in get_args(BoardCreation) else "admins",  # type: ignore[arg-type]
            ip_retention_days=retention,
        )

    async def update_site(
        self, actor: Actor, *, global_rules: str, board_creation: str, ip_retention_days: Any
    ) -> None:
        require(actor, Permission.MANAGE_USERS, None)
        if board_creation not in BOARD_CREATION_MODES:
            raise InvalidInput("Board creation is 'open' or 'admins'.", field="board_creation")
        rules = global_rules.replace("\r\n", "\n").strip()
        if len(rules) > MAX_TEXT_SETTING:
            raise InvalidInput(f"At most {MAX_TEXT_SETTING} characters of rules.", field="global_rules")
        days = _days(ip_retention_days)
        now = self.ctx.clock()
        async with self.ctx.db.writer() as session:
            await repo.set_site_setting(session, "global_rules", rules)
            await repo.set_site_setting(session, "board_creation", board_creation)
            await repo.set_site_setting(session, "ip_retention_days", str(days))
            await log(session, now, actor, "site_settings", None, "site")

    # --- the mod log -----------------------------------------------------------------------

    async def public_log(
        self, board: str, *, before: int | None = None, limit: int = 100
    ) -> tuple[BoardSettings, list[ModLogView]]:
        """A board's public mod log: staff names shown or hidden as the board chooses."""
        async with self.ctx.db.reader() as session:
            settings = await staff.board_settings(session, board)
            rows = await repo.log_entries(session, boards=[board], before_id=before, limit=limit)
        return settings, [_log_view(r, show=settings.modlog_show_names) for r in rows]

    async def staff_log(self, actor: Actor, *, before: int | None = None, limit: int = 200) -> list[ModLogView]:
        if actor.can(Permission.VIEW_MOD_LOG_NAMES):
            boards = None
        else:
            boards = [b for b in actor.board_roles if actor.can(Permission.VIEW_MOD_LOG_NAMES, b)]
            if not boards:
                require(actor, Permission.VIEW_MOD_LOG_NAMES, None)
        async with self.ctx.db.reader() as session:
            rows = await repo.log_entries(session, boards=boards, before_id=before, limit=limit)
        return [_log_view(r, show=True) for r in rows]

    async def check_file(self, session: repo.AnySession, board: str, sha256: str, perceptual: int | None) -> None:
        await check_file(session, board, sha256, perceptual)


async def check_file(session: repo.AnySession, board: str, sha256: str, perceptual: int | None) -> None:
    """Refuse a file banned on ``board`` or site-wide, by exact SHA-256 or by a perceptual
    hash within the ban's distance. For the media context, inside its posting transaction."""
    sha256 = sha256.lower()
    for ban in await repo.file_bans_for_upload(session, board, sha256):
        alike = perceptual is not None and ban.phash and phash.distance(perceptual, int(ban.phash, 16)) <= ban.distance
        if ban.sha256 == sha256 or alike:
            raise _file_banned(ban.board_uri, ban.reason)


def _file_banned(board_uri: str | None, reason: str | None) -> FileBanned:
    why = f" Reason: {reason}" if reason else ""
    where = f"on /{board_uri}/" if board_uri else "on this site"
    return FileBanned(
        f"This file is banned {where} and cannot be posted.{why} Post without it, or choose another file.",
        field="upfile",
    )


def _setting(settings: BoardSettings, name: str) -> Any:
    """A setting's current value, from the board's spec or its moderation settings."""
    return getattr(settings.board, name) if name in staff.SPEC_SETTINGS else getattr(settings, name, None)


def _days(value: Any) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("IP retention is a number of days.", field="ip_retention_days") from None
    if not 1 <= days <= 3650:
        raise InvalidInput("IP retention is 1 to 3650 days.", field="ip_retention_days")
    return days


def _board_role(role: str) -> BoardRole:
    try:
        return BoardRole(role)
    except ValueError:
        raise InvalidInput("The role is owner, moderator, janitor or none.", field="role") from None


def filter_rule(row: WordFilter) -> FilterRule:
    action: FilterAction = row.action if row.action in FILTER_ACTIONS else "refuse"
    return FilterRule(
        id=row.id,
        board=row.board_uri,
        pattern=row.pattern,
        is_regex=row.is_regex,
        action=action,
        replacement=row.replacement,
        ban_hours=row.ban_hours,
        reason=row.reason,
    )


def _filter_view(row: WordFilter) -> FilterView:
    return FilterView(
        id=row.id,
        board=row.board_uri,
        pattern=row.pattern,
        is_regex=row.is_regex,
        action=row.action,
        replacement=row.replacement,
        ban_hours=row.ban_hours,
        reason=row.reason,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _file_ban_view(row: FileBan) -> FileBanView:
    return FileBanView(
        id=row.id,
        board=row.board_uri,
        sha256=row.sha256,
        phash=row.phash,
        distance=row.distance,
        reason=row.reason,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _log_view(row: ModLogEntry, *, show: bool) -> ModLogView:
    return ModLogView(
        id=row.id,
        created_at=row.created_at,
        actor=row.actor if show else None,
        board=row.board_uri,
        action=row.action,
        target=row.target,
        reason=row.reason,
    )

"""Every query of the moderation context."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from imageboard.core.db import ReadSession, WriteSession
from imageboard.core.sqlite_direct import direct
from imageboard.moderation.models import (
    Appeal,
    Ban,
    FileBan,
    ModLogEntry,
    PosterWarning,
    Report,
    SiteSetting,
    WordFilter,
)

AnySession = ReadSession | WriteSession


def _in_scope(column: InstrumentedAttribute[str | None], board: str | None) -> ColumnElement[bool]:
    """Rows for this board or for every board (NULL)."""
    if board is None:
        return column.is_(None)
    return or_(column.is_(None), column == board)


# --- bans -------------------------------------------------------------------------------


def _active(now: datetime) -> ColumnElement[bool]:
    return (Ban.revoked_at.is_(None)) & (or_(Ban.expires_at.is_(None), Ban.expires_at > now))


async def add_ban(session: WriteSession, ban: Ban) -> Ban:
    session.add(ban)
    await session.flush()
    return ban


async def ban_by_id(session: AnySession, ban_id: int) -> Ban | None:
    return await session.get(Ban, ban_id)


async def bans_covering(session: AnySession, key: str, board: str | None, now: datetime) -> Sequence[Ban]:
    """Active bans whose range holds the address key, on this board or site-wide (``board``
    None: on any board)."""
    query = select(Ban).where(Ban.ip_start <= key, Ban.ip_end >= key, _active(now)).order_by(Ban.created_at)
    if board is not None:
        query = query.where(_in_scope(Ban.board_uri, board))
    return (await session.execute(query)).scalars().all()


async def list_bans(
    session: AnySession, boards: Sequence[str] | None, now: datetime, *, active_only: bool, limit: int
) -> Sequence[Ban]:
    """Bans on the given boards (None: every ban, site-wide ones included)."""
    query = select(Ban).order_by(Ban.created_at.desc(), Ban.id.desc()).limit(limit)
    if boards is not None:
        query = query.where(Ban.board_uri.in_(list(boards)))
    if active_only:
        query = query.where(_active(now))
    return (await session.execute(query)).scalars().all()


async def delete_old_bans(session: WriteSession, cutoff: datetime) -> int:
    """Bans that expired or were lifted before ``cutoff`` (and so their addresses) go."""
    result = await session.execute(
        delete(Ban).where(or_(Ban.revoked_at < cutoff, (Ban.expires_at.is_not(None)) & (Ban.expires_at < cutoff)))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- appeals ----------------------------------------------------------------------------


async def add_appeal(session: WriteSession, appeal: Appeal) -> Appeal:
    session.add(appeal)
    await session.flush()
    return appeal


async def appeal_by_id(session: AnySession, appeal_id: int) -> Appeal | None:
    return await session.get(Appeal, appeal_id)


async def appeals_of(session: AnySession, ban_ids: Sequence[int]) -> dict[int, list[Appeal]]:
    result: dict[int, list[Appeal]] = {ban_id: [] for ban_id in ban_ids}
    if not ban_ids:
        return result
    query = select(Appeal).where(Appeal.ban_id.in_(list(ban_ids))).order_by(Appeal.created_at, Appeal.id)
    for appeal in (await session.execute(query)).scalars():
        result[appeal.ban_id].append(appeal)
    return result


async def open_appeals(session: AnySession, *, limit: int) -> Sequence[tuple[Appeal, Ban]]:
    query = (
        select(Appeal, Ban)
        .join(Ban, Ban.id == Appeal.ban_id)
        .where(Appeal.status == "open")
        .order_by(Appeal.created_at, Appeal.id)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


# --- warnings ---------------------------------------------------------------------------


async def add_warning(session: WriteSession, warning: PosterWarning) -> None:
    session.add(warning)
    await session.flush()


async def unseen_warnings(session: AnySession, ip: str) -> Sequence[PosterWarning]:
    query = (
        select(PosterWarning)
        .where(PosterWarning.ip == ip, PosterWarning.seen_at.is_(None))
        .order_by(PosterWarning.created_at)
    )
    return (await session.execute(query)).scalars().all()


async def mark_warnings_seen(session: WriteSession, ids: Sequence[int], now: datetime) -> None:
    if ids:
        await session.execute(update(PosterWarning).where(PosterWarning.id.in_(list(ids))).values(seen_at=now))


async def delete_old_warnings(session: WriteSession, cutoff: datetime) -> int:
    result = await session.execute(delete(PosterWarning).where(PosterWarning.created_at < cutoff))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- reports ----------------------------------------------------------------------------


async def add_report(session: WriteSession, report: Report) -> bool:
    """False when this address already reported the post."""
    try:
        async with session.begin_nested():
            session.add(report)
            await session.flush()
    except IntegrityError:
        return False
    return True


async def report_by_id(session: AnySession, report_id: int) -> Report | None:
    return await session.get(Report, report_id)


async def open_reports(
    session: AnySession, *, boards: Sequence[str] | None, is_global: bool | None, limit: int
) -> Sequence[Report]:
    query = select(Report).where(Report.status == "open").order_by(Report.created_at, Report.id).limit(limit)
    if boards is not None:
        query = query.where(Report.board_uri.in_(list(boards)))
    if is_global is not None:
        query = query.where(Report.is_global.is_(is_global))
    return (await session.execute(query)).scalars().all()


async def close_reports_of_posts(
    session: WriteSession, post_ids: Sequence[int], status: str, by: str, now: datetime
) -> int:
    if not post_ids:
        return 0
    result = await session.execute(
        update(Report)
        .where(Report.post_id.in_(list(post_ids)), Report.status == "open")
        .values(status=status, handled_by=by, handled_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def purge_reporter_ips(session: WriteSession, cutoff: datetime) -> int:
    result = await session.execute(
        update(Report).where(Report.created_at < cutoff, Report.reporter_ip.is_not(None)).values(reporter_ip=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# --- mod log ----------------------------------------------------------------------------


async def add_log(session: WriteSession, entry: ModLogEntry) -> None:
    session.add(entry)
    await session.flush()


async def log_entries(
    session: AnySession, *, boards: Sequence[str] | None, before_id: int | None, limit: int
) -> Sequence[ModLogEntry]:
    """Newest first; ``boards`` None means every entry, site-wide ones included."""
    query = select(ModLogEntry).order_by(ModLogEntry.id.desc()).limit(limit)
    if boards is not None:
        query = query.where(ModLogEntry.board_uri.in_(list(boards)))
    if before_id is not None:
        query = query.where(ModLogEntry.id < before_id)
    return (await session.execute(query)).scalars().all()


# --- word filters and file bans ---------------------------------------------------------


# Every change to the word filters stores a new random version here, in the same
# transaction, so a process's cached filters are exactly as fresh as the version it reads.
FILTERS_VERSION = "filters_version"


async def add_filter(session: WriteSession, rule: WordFilter) -> WordFilter:
    session.add(rule)
    await set_site_setting(session, FILTERS_VERSION, uuid.uuid4().hex)
    return rule


async def delete_filter(session: WriteSession, rule: WordFilter) -> None:
    await session.delete(rule)
    await set_site_setting(session, FILTERS_VERSION, uuid.uuid4().hex)


# Built once: the statement runs for every new post, and building it costs more than running it.
_SCREENING = direct(
    select(
        exists().where(
            Ban.ip_start <= bindparam("key"),
            Ban.ip_end >= bindparam("key"),
            Ban.revoked_at.is_(None),
            or_(Ban.expires_at.is_(None), Ban.expires_at > bindparam("now", type_=Ban.expires_at.type)),
            or_(Ban.board_uri.is_(None), Ban.board_uri == bindparam("board")),
        ),
        exists().where(PosterWarning.ip == bindparam("ip"), PosterWarning.seen_at.is_(None)),
        select(SiteSetting.value).where(SiteSetting.key == FILTERS_VERSION).scalar_subquery(),
    )
)


async def screening_facts(
    session: AnySession, *, key: str | None, ip: str | None, board: str, now: datetime
) -> tuple[bool, bool, str | None]:
    """What a new post's check needs first, in one statement: whether an active ban covers
    the address key on ``board``, whether the address has unseen warnings, and the word
    filters' version."""
    row = (await session.execute(_SCREENING, {"key": key, "ip": ip, "board": board, "now": now})).one()
    return bool(row[0]), bool(row[1]), row[2]


async def filter_by_id(session: AnySession, filter_id: int) -> WordFilter | None:
    return await session.get(WordFilter, filter_id)


async def filters_for(session: AnySession, board: str | None) -> Sequence[WordFilter]:
    """Site filters first, then the board's, each in the order they were made."""
    query = (
        select(WordFilter)
        .where(_in_scope(WordFilter.board_uri, board))
        .order_by(WordFilter.board_uri.is_not(None), WordFilter.id)
    )
    return (await session.execute(query)).scalars().all()


async def all_filters(session: AnySession) -> Sequence[WordFilter]:
    return (await session.execute(select(WordFilter).order_by(WordFilter.id))).scalars().all()


async def delete_row(session: WriteSession, row: object) -> None:
    await session.delete(row)
    await session.flush()


async def add_file_ban(session: WriteSession, ban: FileBan) -> FileBan:
    session.add(ban)
    await session.flush()
    return ban


async def file_ban_by_id(session: AnySession, ban_id: int) -> FileBan | None:
    return await session.get(FileBan, ban_id)


async def all_file_bans(session: AnySession) -> Sequence[FileBan]:
    return (await session.execute(select(FileBan).order_by(FileBan.id))).scalars().all()


_FILE_BAN_FIELDS = ("board_uri", "reason", "sha256", "phash", "distance")
# Every upload is screened: built once, as table columns (the matching is done by the caller).
_FILE_BANS_FOR_UPLOAD = (
    select(*(cast(Table, FileBan.__table__).c[name] for name in _FILE_BAN_FIELDS))
    .where(
        or_(FileBan.board_uri.is_(None), FileBan.board_uri == bindparam("board")),
        or_(FileBan.sha256 == bindparam("sha256"), FileBan.phash.is_not(None)),
    )
    .order_by(FileBan.id)
)


async def file_bans_for_upload(session: AnySession, board: str, sha256: str) -> Sequence[Row[Any]]:
    """The file bans in force on ``board`` (its own and site-wide) that could match an upload:
    those of its exact SHA-256 and every perceptual one (``_FILE_BAN_FIELDS``)."""
    return (await session.execute(_FILE_BANS_FOR_UPLOAD, {"board": board, "sha256": sha256})).all()


# --- site settings ----------------------------------------------------------------------


async def site_settings(session: AnySession) -> dict[str, str]:
    rows = await session.execute(select(SiteSetting.key, SiteSetting.value))
    return dict(rows.all())


async def set_site_setting(session: WriteSession, key: str, value: str) -> None:
    row = await session.get(SiteSetting, key)
    if row is None:
        session.add(SiteSetting(key=key, value=value))
    else:
        row.value = value
    await session.flush()


async def count_open(session: AnySession) -> tuple[int, int]:
    reports = await session.execute(select(func.count()).select_from(Report).where(Report.status == "open"))
    appeals = await session.execute(select(func.count()).select_from(Appeal).where(Appeal.status == "open"))
    return int(reports.scalar_one()), int(appeals.scalar_one())

"""Every query of the media context. Functions take the session type they need, so a write
can never run on a replica session."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, exists, func, literal_column, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from imageboard.core.db import ReadSession, TableReads, WriteSession
from imageboard.media.models import Attachment, MediaBlob

AnySession = ReadSession | WriteSession | AsyncSession

# Bound parameters per IN (...) list: well under SQLite's and asyncpg's limits.
CHUNK = 500


def _chunks(values: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


_ATTACHMENTS = cast(Table, Attachment.__table__)
_BLOBS = cast(Table, MediaBlob.__table__)
# Files waiting for a worker, spelled as ix_attachments_processing's predicate: with a bound
# value in its place SQLite prepares the statement again on every run to see whether the
# partial index applies, and PostgreSQL's generic plans of a prepared statement cannot use it.
_WAITING = Attachment.status == literal_column("'processing'")


# --- blobs ------------------------------------------------------------------------------


async def _lock_blobs(session: WriteSession, shas: Sequence[str]) -> set[str]:
    """Those of ``shas`` that have a row, share-locked until the transaction ends, so the
    garbage collector cannot delete a row an attachment is about to use."""
    found: set[str] = set()
    for chunk in _chunks(sorted(set(shas))):
        result = await session.execute(
            select(MediaBlob.sha256).where(MediaBlob.sha256.in_(chunk)).with_for_update(read=True, key_share=True)
        )
        found.update(result.scalars().all())
    return found


async def ensure_blobs(session: WriteSession, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the blob rows that are missing and keep them all until the transaction ends.
    Returns the sha256s of rows that vanished in between (PostgreSQL: the collector deleted
    one this transaction found), to be ensured again. On SQLite the transaction is the only
    writer from its first statement, so what it inserted or found stays: no lock is read."""
    for values in rows:
        await insert_blob_if_missing(session, values)
    if session.get_bind().dialect.name == "sqlite":
        return set()
    shas = [values["sha256"] for values in rows]
    return set(shas) - await _lock_blobs(session, shas)


def _insert_unless_taken(table: Table, dialect: str, key: str) -> Any:
    """INSERT ... ON CONFLICT (key) DO NOTHING for the dialect, values as parameters."""
    if dialect == "postgresql":
        return pg_insert(table).on_conflict_do_nothing(index_elements=[key])
    if dialect == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing(index_elements=[key])
    raise RuntimeError(f"media storage supports PostgreSQL and SQLite, not {dialect}")


# Built once per dialect: an upload's post inserts one blob and one attachment per file.
_BLOB_INSERTS: dict[str, Any] = {}
_ATTACHMENT_INSERTS: dict[str, Any] = {}


async def insert_blob_if_missing(session: WriteSession, values: dict[str, Any]) -> None:
    """Insert a blob row unless one with that sha256 exists (committed or being committed by
    a concurrent transaction: PostgreSQL waits for it, then skips)."""
    dialect = session.get_bind().dialect.name
    statement = _BLOB_INSERTS.get(dialect)
    if statement is None:
        statement = _BLOB_INSERTS[dialect] = _insert_unless_taken(_BLOBS, dialect, "sha256")
    await session.execute(statement, values)


async def insert_attachment_unless_tim_taken(session: WriteSession, values: dict[str, Any]) -> bool:
    """Insert an attachment row; False (and nothing written) when its ``tim`` is taken. No
    savepoint is needed for the retry: a skipped conflict leaves the transaction usable."""
    dialect = session.get_bind().dialect.name
    statement = _ATTACHMENT_INSERTS.get(dialect)
    if statement is None:
        statement = _insert_unless_taken(_ATTACHMENTS, dialect, "tim").returning(_ATTACHMENTS.c.id)
        _ATTACHMENT_INSERTS[dialect] = statement
    return (await session.execute(statement, values)).first() is not None


async def blobs_by_sha(session: AnySession, shas: Sequence[str]) -> dict[str, MediaBlob]:
    found: dict[str, MediaBlob] = {}
    for chunk in _chunks(list(dict.fromkeys(shas))):
        rows = await session.execute(select(MediaBlob).where(MediaBlob.sha256.in_(chunk)))
        found.update({blob.sha256: blob for blob in rows.scalars()})
    return found


async def delete_orphan_blobs(session: WriteSession, shas: Sequence[str], older_than: datetime) -> list[str]:
    """Delete those blob rows no attachment (live or deleted) points at; return their sha256s."""
    removed: list[str] = []
    for chunk in _chunks(list(shas)):
        referenced = exists().where(Attachment.blob_sha256 == MediaBlob.sha256)
        result = await session.execute(
            delete(MediaBlob)
            .where(MediaBlob.sha256.in_(chunk), MediaBlob.created_at < older_than, ~referenced)
            .returning(MediaBlob.sha256)
        )
        removed.extend(result.scalars().all())
    return removed


async def orphan_blob_shas(session: AnySession, older_than: datetime, *, limit: int) -> list[str]:
    """Blob rows no attachment points at any more (their posts were deleted)."""
    referenced = exists().where(Attachment.blob_sha256 == MediaBlob.sha256)
    rows = await session.execute(
        select(MediaBlob.sha256)
        .where(MediaBlob.created_at < older_than, ~referenced)
        .order_by(MediaBlob.sha256)
        .limit(limit)
    )
    return list(rows.scalars().all())


# --- attachments ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttachmentRow:
    attachment: Attachment
    blob: MediaBlob


# What a file's public view reads of its attachment and its blob: names that the two tables
# do not share, so one row answers for both.
_FILE_RECORD = (
    select(
        *(_ATTACHMENTS.c[name] for name in (
            "post_id", "board_uri", "tim", "filename", "spoiler", "thumb_width", "thumb_height", "thumb_box",
            "deleted", "status",
        )),
        *(_BLOBS.c[name] for name in (
            "sha256", "md5_base64", "size", "mime", "ext", "kind", "width", "height", "duration", "has_audio",
        )),
    )
    .join(_BLOBS, _BLOBS.c.sha256 == _ATTACHMENTS.c.blob_sha256)
    .where(_ATTACHMENTS.c.post_id.in_(bindparam("post_ids", expanding=True)))
    .order_by(_ATTACHMENTS.c.post_id, _ATTACHMENTS.c.position, _ATTACHMENTS.c.id)
)  # fmt: skip


async def file_records_of_posts(session: TableReads, post_ids: Sequence[int]) -> list[Row[Any]]:
    """The files of those posts as the pages show them, ordered by post and position: table
    rows, not entities — a thread page or a catalog reads hundreds, and loading each as two
    entities cost more than the query."""
    rows: list[Row[Any]] = []
    for chunk in _chunks(list(dict.fromkeys(post_ids))):
        rows.extend((await session.execute(_FILE_RECORD, {"post_ids": list(chunk)})).all())
    return rows


async def attachments_of_posts(session: AnySession, post_ids: Sequence[int]) -> list[AttachmentRow]:
    """Attachments of those posts with their blobs, ordered by post and position."""
    rows: list[AttachmentRow] = []
    for chunk in _chunks(list(dict.fromkeys(post_ids))):
        result = await session.execute(
            select(Attachment, MediaBlob)
            .join(MediaBlob, MediaBlob.sha256 == Attachment.blob_sha256)
            .where(Attachment.post_id.in_(chunk))
            .order_by(Attachment.post_id, Attachment.position, Attachment.id)
        )
        rows.extend(AttachmentRow(attachment=a, blob=b) for a, b in result)
    return rows


async def attachment_by_tim(session: AnySession, board_uri: str, tim: int) -> AttachmentRow | None:
    result = await session.execute(
        select(Attachment, MediaBlob)
        .join(MediaBlob, MediaBlob.sha256 == Attachment.blob_sha256)
        .where(Attachment.tim == tim, Attachment.board_uri == board_uri)
    )
    row = result.one_or_none()
    return None if row is None else AttachmentRow(attachment=row[0], blob=row[1])


async def post_ids_with_blob(session: AnySession, board_id: int, sha256: str) -> list[int]:
    result = await session.execute(
        select(Attachment.post_id)
        .where(Attachment.board_id == board_id, Attachment.blob_sha256 == sha256, Attachment.deleted.is_(False))
        .distinct()
        .order_by(Attachment.post_id)
    )
    return list(result.scalars().all())


async def mark_deleted(session: WriteSession, post_ids: Sequence[int]) -> int:
    count = 0
    for chunk in _chunks(list(dict.fromkeys(post_ids))):
        result = await session.execute(
            update(Attachment)
            .where(Attachment.post_id.in_(chunk), Attachment.deleted.is_(False))
            .values(deleted=True)
            .execution_options(synchronize_session=False)
        )
        count += int(getattr(result, "rowcount", 0) or 0)
    return count


async def count_live_attachments(session: AnySession, post_ids: Sequence[int]) -> int:
    """How many files those posts carry that were not deleted."""
    count = 0
    for chunk in _chunks(list(dict.fromkeys(post_ids))):
        query = select(func.count()).where(_ATTACHMENTS.c.post_id.in_(chunk), _ATTACHMENTS.c.deleted.is_(False))
        count += int((await session.execute(query)).scalar_one())
    return count


async def live_originals(session: AnySession, shas: Sequence[str]) -> set[str]:
    """Those of ``shas`` that a live (not deleted) attachment uses."""
    found: set[str] = set()
    for chunk in _chunks(list(dict.fromkeys(shas))):
        result = await session.execute(
            select(Attachment.blob_sha256)
            .where(Attachment.blob_sha256.in_(chunk), Attachment.deleted.is_(False))
            .distinct()
        )
        found.update(result.scalars().all())
    return found


async def live_thumbnails(session: AnySession, pairs: Sequence[tuple[str, int]]) -> set[tuple[str, int]]:
    """Those (sha256, box) pairs a live attachment shows as its thumbnail."""
    found: set[tuple[str, int]] = set()
    for chunk in _chunks(list(dict.fromkeys(pairs))):
        shas = list({sha for sha, _ in chunk})
        result = await session.execute(
            select(Attachment.blob_sha256, Attachment.thumb_box)
            .where(Attachment.blob_sha256.in_(shas), Attachment.deleted.is_(False), Attachment.thumb_box > 0)
            .distinct()
        )
        wanted = set(chunk)
        found.update(pair for pair in ((sha, int(box)) for sha, box in result) if pair in wanted)
    return found


# --- thumbnails -------------------------------------------------------------------------


def _thumbnail_targets(board_uri: str | None) -> Any:
    query = (
        select(
            Attachment.blob_sha256,
            Attachment.thumb_box,
            MediaBlob.ext,
            MediaBlob.kind,
        )
        .join(MediaBlob, MediaBlob.sha256 == Attachment.blob_sha256)
        .where(Attachment.deleted.is_(False), Attachment.thumb_box > 0)
    )
    if board_uri is not None:
        query = query.where(Attachment.board_uri == board_uri)
    return query.distinct()


async def count_thumbnail_targets(session: AnySession, board_uri: str | None) -> int:
    sub = _thumbnail_targets(board_uri).subquery()
    return int((await session.execute(select(func.count()).select_from(sub))).scalar_one())


async def thumbnail_targets(
    session: AnySession, board_uri: str | None, *, after: tuple[str, int] | None, limit: int
) -> list[tuple[str, int, str, str]]:
    """Distinct (sha256, box, ext, kind) of live attachments with a thumbnail, in key order,
    one page after ``after``."""
    query = _thumbnail_targets(board_uri)
    if after is not None:
        query = query.where(tuple_(Attachment.blob_sha256, Attachment.thumb_box) > tuple_(*after))
    query = query.order_by(Attachment.blob_sha256, Attachment.thumb_box).limit(limit)
    result = await session.execute(query)
    return [(str(sha), int(box), str(ext), str(kind)) for sha, box, ext, kind in result]


async def set_thumbnail_size(session: WriteSession, sha256: str, box: int, width: int, height: int) -> None:
    await session.execute(
        update(Attachment)
        .where(Attachment.blob_sha256 == sha256, Attachment.thumb_box == box)
        .values(thumb_width=width, thumb_height=height)
        .execution_options(synchronize_session=False)
    )


# --- background processing (videos finished by a worker) ---------------------------------


async def has_processing(session: AnySession, *, board_uri: str | None) -> bool:
    """Whether any file (of that board, or of any) waits for a worker: a read that tells the
    worker, on every post with files, whether to take a write transaction at all."""
    query = select(Attachment.id).where(_WAITING).limit(1)
    if board_uri is not None:
        query = query.where(Attachment.board_uri == board_uri)
    return (await session.execute(query)).first() is not None


async def claim_processing(
    session: WriteSession, *, now: datetime, lease_until: datetime, board_uri: str | None, limit: int
) -> list[AttachmentRow]:
    """Take the lease on up to ``limit`` files waiting for a worker that nobody holds, oldest
    first; each take counts as an attempt. PostgreSQL skips rows another worker is claiming."""
    query = (
        select(Attachment, MediaBlob)
        .join(MediaBlob, MediaBlob.sha256 == Attachment.blob_sha256)
        .where(
            _WAITING,
            or_(Attachment.claimed_until.is_(None), Attachment.claimed_until < now),
        )
        .order_by(Attachment.id)
        .limit(limit)
    )
    if board_uri is not None:
        query = query.where(Attachment.board_uri == board_uri)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Attachment)
    rows = [AttachmentRow(attachment=a, blob=b) for a, b in await session.execute(query)]
    for row in rows:
        row.attachment.claimed_until = lease_until
        row.attachment.process_attempts += 1
    await session.flush()
    return rows


async def finish_processing(
    session: WriteSession, attachment_id: int, *, blob_sha256: str, thumb_box: int, thumb_width: int, thumb_height: int
) -> bool:
    """Swap the clean copy in and mark the file ready; False when it is no longer waiting."""
    result = await session.execute(
        update(Attachment)
        .where(Attachment.id == attachment_id, Attachment.status == "processing")
        .values(
            status="ready",
            blob_sha256=blob_sha256,
            thumb_box=thumb_box,
            thumb_width=thumb_width,
            thumb_height=thumb_height,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def fail_processing(session: WriteSession, attachment_id: int) -> bool:
    result = await session.execute(
        update(Attachment)
        .where(Attachment.id == attachment_id, Attachment.status == "processing")
        .values(status="failed", claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def release_processing(session: WriteSession, attachment_id: int) -> None:
    """Give up a lease early (the work failed for a reason that may pass), so it is retried."""
    await session.execute(
        update(Attachment)
        .where(Attachment.id == attachment_id, Attachment.status == "processing")
        .values(claimed_until=None)
        .execution_options(synchronize_session=False)
    )


async def attachment_by_id(session: AnySession, attachment_id: int) -> AttachmentRow | None:
    result = await session.execute(
        select(Attachment, MediaBlob)
        .join(MediaBlob, MediaBlob.sha256 == Attachment.blob_sha256)
        .where(Attachment.id == attachment_id)
        .execution_options(populate_existing=True)
    )
    row = result.one_or_none()
    return None if row is None else AttachmentRow(attachment=row[0], blob=row[1])

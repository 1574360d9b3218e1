"""Every query of the accounts context."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update

from imageboard.accounts.models import BoardStaff, Session, User
from imageboard.core.db import ReadSession, WriteSession

AnySession = ReadSession | WriteSession


async def user_by_name(session: AnySession, username: str) -> User | None:
    return (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()


async def user_by_id(session: AnySession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def all_users(session: AnySession) -> Sequence[User]:
    return (await session.execute(select(User).order_by(User.username))).scalars().all()


async def count_users(session: AnySession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def add_user(session: WriteSession, user: User) -> User:
    session.add(user)
    await session.flush()
    return user


async def board_roles(session: AnySession, user_id: int) -> dict[str, str]:
    rows = await session.execute(select(BoardStaff.board_uri, BoardStaff.role).where(BoardStaff.user_id == user_id))
    return dict(rows.all())


async def board_staff(session: AnySession, board_uri: str) -> list[tuple[str, str]]:
    query = (
        select(User.username, BoardStaff.role)
        .join(User, User.id == BoardStaff.user_id)
        .where(BoardStaff.board_uri == board_uri)
        .order_by(User.username)
    )
    return [(name, role) for name, role in (await session.execute(query)).all()]


async def set_board_role(session: WriteSession, user_id: int, board_uri: str, role: str | None) -> None:
    await session.execute(delete(BoardStaff).where(BoardStaff.user_id == user_id, BoardStaff.board_uri == board_uri))
    if role is not None:
        session.add(BoardStaff(user_id=user_id, board_uri=board_uri, role=role))
    await session.flush()


async def add_session(session: WriteSession, row: Session) -> None:
    session.add(row)
    await session.flush()


async def session_by_hash(session: AnySession, token_hash: str) -> Session | None:
    return await session.get(Session, token_hash)


async def touch_session(session: WriteSession, token_hash: str, when: datetime) -> None:
    await session.execute(update(Session).where(Session.token_hash == token_hash).values(last_seen_at=when))


async def delete_session(session: WriteSession, token_hash: str) -> None:
    await session.execute(delete(Session).where(Session.token_hash == token_hash))


async def delete_sessions_of(session: WriteSession, user_id: int) -> int:
    result = await session.execute(delete(Session).where(Session.user_id == user_id))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def delete_expired_sessions(session: WriteSession, now: datetime) -> int:
    result = await session.execute(delete(Session).where(Session.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]

"""What every part of ``BoardsService`` shares: the attributes its constructor sets (declared
here so mypy checks each part on its own) and the board look-ups most use cases start with."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from imageboard.boards import repository as repo
from imageboard.boards.models import Board
from imageboard.boards.schemas import NewPost
from imageboard.core.db import Database, ReadSession, TableReads, WriteSession
from imageboard.core.errors import DomainError, NotFound
from imageboard.events import EventPublisher
from imageboard.media import MediaService

# A board's columns as ``repo.board_record`` reads them, used like the entity: a plain row
# costs a fifth of loading the entity, and posting reads the board for every post.
BoardRow = Row[Any]
Screen = Callable[[WriteSession, BoardRow, NewPost], Awaitable[tuple[NewPost, bool, DomainError | None]]]


class BoardsBase:
    """Set by ``BoardsService.__init__``, which says what each is for."""

    db: Database
    secret: bytes
    clock: Callable[[], datetime]
    media: MediaService | None
    events: EventPublisher
    screen: Screen | None
    indexer: Callable[[WriteSession, int], Awaitable[None]] | None

    def _digest(self, password: str) -> str:
        return hmac.new(self.secret, password.encode(), hashlib.sha256).hexdigest()


_Board = TypeVar("_Board", Board, Row[Any])


async def board_or_404(session: ReadSession | WriteSession | AsyncSession, uri: str) -> Board:
    return _found(await repo.board_by_uri(session, uri), uri)


async def board_to_change_or_404(session: WriteSession, uri: str) -> Board:
    """The board, its row locked until commit (PostgreSQL), for a transaction that changes
    its threads: it takes the board before any of them, in the order posting does (its claim
    of the next number, then the thread). In the other order a deletion holding a thread and
    waiting for the board, and a reply holding the board and waiting for that thread, would
    wait for each other until PostgreSQL aborted one."""
    return _found(await repo.board_by_uri(session, uri, for_update=True), uri)


async def board_record_or_404(session: TableReads, uri: str) -> Row[Any]:
    return _found(await repo.board_record(session, uri), uri)


def _found(board: _Board | None, uri: str) -> _Board:
    if board is None:
        raise NotFound(f"There is no board /{uri}/.", code="board_not_found")
    return board

"""What every part of ``BoardsService`` shares: the attributes its constructor sets (declared
here so mypy checks each part on its own) and the board look-ups most use cases start with."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Row

from imageboard.boards import repository as repo
from imageboard.boards.models import Board
from imageboard.boards.schemas import NewPost
from imageboard.core.db import Database, ReadSession, WriteSession
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


async def board_or_404(session: ReadSession | WriteSession, uri: str) -> Board:
    board = await repo.board_by_uri(session, uri)
    if board is None:
        raise NotFound(f"There is no board /{uri}/.", code="board_not_found")
    return board


async def board_record_or_404(session: ReadSession, uri: str) -> Row[Any]:
    board = await repo.board_record(session, uri)
    if board is None:
        raise NotFound(f"There is no board /{uri}/.", code="board_not_found")
    return board

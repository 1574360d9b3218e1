"""The posting use case, shared by the post form and the JSON API.

Order matters: the cheap anti-spam checks run before any file is read; files are checked,
cleaned and stored before the posting transaction (a crash in between leaves only blobs the
garbage collector removes); the anti-spam allowance is given back when the post is refused
later, so a poster who fixes a mistake is not charged twice.

The board's settings the checks before the write need (its anti-spam policy overrides, its
file limits) are kept for a few seconds per process, so a refused post — a flooder's — costs
no database work at all, and a post reads the board only inside its own write transaction.
That transaction checks the post against the board as it is then, files' kinds included: a
kind a board stopped taking a moment ago is refused there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from imageboard.antispam import AntispamService, CaptchaAttempt, PostVerdict
from imageboard.boards import BoardsService, BoardView, NewPost, PostCreated
from imageboard.media import IngestedFile, MediaService
from imageboard.media.uploads import SiteMediaLimits, UploadLike, ingest_uploads

# Seconds a board's settings are reused by the checks before the write (anti-spam policy).
BOARD_TTL = 5.0


@dataclass(frozen=True, slots=True)
class Submission:
    board: str
    thread_no: int
    name: str = ""
    options: str = ""
    subject: str = ""
    comment: str = ""
    password: str = ""
    ip: str | None = None
    uploads: Sequence[UploadLike] = ()
    spoiler: bool = False
    capcode: str | None = None
    captcha: CaptchaAttempt | None = None
    honeypot: str = ""


@dataclass(frozen=True, slots=True)
class Submitted:
    created: PostCreated
    verdict: PostVerdict = field(default_factory=PostVerdict)


class PostingService:
    def __init__(
        self,
        boards: BoardsService,
        *,
        antispam: AntispamService,
        media: MediaService | None,
        limits: SiteMediaLimits,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.boards = boards
        self.antispam = antispam
        self.media = media
        self.limits = limits
        self.monotonic = monotonic
        self._boards: dict[str, tuple[float, BoardView]] = {}

    async def board(self, uri: str) -> BoardView:
        """The board as the checks before the write see it: read at most every BOARD_TTL
        seconds (the write transaction reads it again and validates the post against it)."""
        now = self.monotonic()
        kept = self._boards.get(uri)
        if kept is not None and now - kept[0] < BOARD_TTL:
            return kept[1]
        board = await self.boards.get_board(uri)
        self._boards[uri] = (now, board)  # only boards that exist: bounded by their number
        return board

    async def submit(self, submission: Submission) -> Submitted:
        board = await self.board(submission.board)
        is_thread = submission.thread_no == 0
        verdict = await self.antispam.check_post(
            ip=submission.ip or "",
            board=board.uri,
            is_thread=is_thread,
            comment=submission.comment,
            file_count=len(submission.uploads),
            captcha=submission.captcha,
            policy=self.antispam.policy_for(board),
            honeypot=submission.honeypot,
        )
        try:
            files: tuple[IngestedFile, ...] = ()
            if submission.uploads and self.media is not None and not board.text_only:
                files = await ingest_uploads(
                    self.media,
                    submission.uploads,
                    self.limits.for_board(allowed_media=board.allowed_media, max_file_mb=board.max_file_mb),
                    max_files=board.max_files,
                    is_op=is_thread,
                    spoiler=submission.spoiler,
                    board=board.uri,
                )
            created = await self.boards.create_post(
                NewPost(
                    board=board.uri,
                    thread_no=submission.thread_no,
                    name=submission.name,
                    options=submission.options,
                    subject=submission.subject,
                    comment=submission.comment,
                    password=submission.password,
                    ip=submission.ip,
                    has_files=bool(submission.uploads),
                    capcode=submission.capcode,
                    files=files,
                    hold_for_review=verdict.action == "hold",
                )
            )
        except BaseException:
            await self.antispam.release(verdict)
            raise
        await self.antispam.record_post(verdict)
        return Submitted(created=created, verdict=verdict)

"""Domain events: typed, versioned messages with a JSON form.

Every event carries ``type`` (a dotted name, stable forever), ``version`` (raised on a change
a consumer must know about), ``id`` (unique and time-sortable, the deduplication key of every
consumer), ``occurred_at`` and the board it belongs to. ``subject`` is where it travels on
the bus: ``<type>.<board>`` (``_`` for site-wide events), under the bus's prefix.

Compatibility rules: adding an optional field is not a new version (readers ignore fields they
do not know); renaming or removing one is, and the old shape then gets an upcaster in
``UPCASTERS`` so old messages still in the stream keep decoding.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from imageboard.core.clock import utcnow

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of digits, by the 10 bits they stand for: an id is 13 look-ups, not 26.
_CROCKFORD_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_id_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def new_event_id() -> str:
    """A 26-character ULID: 48 bits of milliseconds then 80 random bits, Crockford base32.
    Sorts by creation time; within one millisecond of one process it still increases."""
    global _last_ms, _last_random
    with _id_lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _last_random = (_last_random + 1) & ((1 << 80) - 1)
        else:
            _last_ms = ms
            _last_random = int.from_bytes(os.urandom(10), "big")
        value = (ms << 80) | _last_random
    return "".join([_CROCKFORD_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])


def event_id_time(event_id: str) -> datetime:
    """When an event id was made (to the millisecond)."""
    value = 0
    for char in event_id[:10]:
        value = value * 32 + _CROCKFORD.index(char)
    return datetime.fromtimestamp(value / 1000, UTC)


class Event(BaseModel):
    """Fields every event has. Subclasses fix ``type`` and may raise ``version``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    # Whether the event may be shown to anyone (live updates, public webhooks). Ban and
    # report events are for staff only.
    public: ClassVar[bool] = True

    type: str
    version: int = 1
    id: str = Field(default_factory=new_event_id, min_length=26, max_length=26)
    occurred_at: datetime = Field(default_factory=utcnow)
    board: str | None = None

    @property
    def subject(self) -> str:
        """Where this event travels, relative to the bus's subject prefix."""
        return f"{self.type}.{self.board or '_'}"

    def to_json(self) -> str:
        return self.model_dump_json()

    def live_channels(self) -> list[str]:
        """The live-update channels (SSE streams) this event is shown on."""
        return []


class ThreadEvent(Event):
    board: str
    thread_no: int

    def live_channels(self) -> list[str]:
        return [thread_channel(self.board, self.thread_no), catalog_channel(self.board)]


class PostCreated(ThreadEvent):
    """A post was written. ``post`` is the post as the public API renders it (filled by the
    boards context; never anything private such as the poster's address)."""

    type: Literal["post.created"] = "post.created"
    post_no: int
    is_op: bool = False
    sage: bool = False
    files: int = 0
    # Of ``files``, those a worker must still finish (videos stored as uploaded). None when
    # the producer does not know (an approved post; events of older versions): ask the database.
    waiting_files: int | None = None
    post: dict[str, Any] = Field(default_factory=dict)


class PostDeleted(ThreadEvent):
    """A post is gone (``is_op``: with its whole thread)."""

    type: Literal["post.deleted"] = "post.deleted"
    post_no: int
    is_op: bool = False
    by_staff: bool = False
    file_hashes: list[str] = Field(default_factory=list)  # blobs the media collector may check


class PostUpdated(ThreadEvent):
    """A post already shown changed in place: staff edited it, spoilered its file, or marked
    it (or unmarked it) with the public ban message. ``post`` is the post as the public API
    renders it, built as for ``post.created``; a reader replaces its copy of the post."""

    type: Literal["post.updated"] = "post.updated"
    post_no: int
    is_op: bool = False
    post: dict[str, Any] = Field(default_factory=dict)


class FileDeleted(ThreadEvent):
    """A post's file was removed; the post stays."""

    type: Literal["file.deleted"] = "file.deleted"
    post_no: int
    sha256: str
    by_staff: bool = False


class FileProcessed(ThreadEvent):
    """Background media work (thumbnail, transcode) finished for a file shown as "processing"."""

    type: Literal["file.processed"] = "file.processed"
    post_no: int
    sha256: str
    status: Literal["ready", "failed"] = "ready"
    file: dict[str, Any] = Field(default_factory=dict)


class FileFinished(Event):
    """A worker finished a file posted as "processing" (or gave up on it). Internal: the media
    context knows the file, not the post's numbers; the boards context answers it by marking
    the thread changed and announcing ``file.processed`` for it."""

    public: ClassVar[bool] = False
    type: Literal["file.finished"] = "file.finished"
    board: str
    post_id: int
    tim: int
    status: Literal["ready", "failed"] = "ready"
    file: dict[str, Any] = Field(default_factory=dict)


class ThreadUpdated(ThreadEvent):
    """A thread's state changed. Only the fields that changed are set."""

    type: Literal["thread.updated"] = "thread.updated"
    sticky: bool | None = None
    locked: bool | None = None
    cyclic: bool | None = None
    bumped_at: datetime | None = None
    reply_count: int | None = None
    file_count: int | None = None


class ThreadArchived(ThreadEvent):
    type: Literal["thread.archived"] = "thread.archived"
    archived_at: datetime = Field(default_factory=utcnow)


class ThreadPruned(ThreadEvent):
    """A thread was deleted for good (pushed off the board with no archive, or its archive
    period ended)."""

    type: Literal["thread.pruned"] = "thread.pruned"
    reason: Literal["capacity", "archive_expired", "deleted"] = "capacity"
    file_hashes: list[str] = Field(default_factory=list)


class BanCreated(Event):
    """A ban was issued; ``board`` is None for a site-wide ban. Staff-only: carries no address."""

    public: ClassVar[bool] = False
    type: Literal["ban.created"] = "ban.created"
    ban_id: int
    thread_no: int | None = None
    post_no: int | None = None
    reason: str = ""
    expires_at: datetime | None = None


class BoardUpdated(Event):
    """A board's settings changed (title, limits, rules, announcement, banners, spoiler
    image...): every page of the board may look different. ``fields`` names the settings
    changed, never their values. Not shown on live-update streams: the threads themselves did
    not change, and a reader sees the new settings on the next page load."""

    type: Literal["board.updated"] = "board.updated"
    board: str
    fields: list[str] = Field(default_factory=list)


class ReportCreated(Event):
    public: ClassVar[bool] = False
    type: Literal["report.created"] = "report.created"
    report_id: int
    thread_no: int
    post_no: int
    category: str = ""
    reason: str = ""


AnyEvent = Annotated[
    PostCreated
    | PostDeleted
    | PostUpdated
    | FileDeleted
    | FileProcessed
    | FileFinished
    | ThreadUpdated
    | ThreadArchived
    | ThreadPruned
    | BanCreated
    | BoardUpdated
    | ReportCreated,
    Field(discriminator="type"),
]
EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        PostCreated,
        PostDeleted,
        PostUpdated,
        FileDeleted,
        FileProcessed,
        FileFinished,
        ThreadUpdated,
        ThreadArchived,
        ThreadPruned,
        BanCreated,
        BoardUpdated,
        ReportCreated,
    )
}
EventType = Literal[
    "post.created",
    "post.deleted",
    "post.updated",
    "file.deleted",
    "file.processed",
    "file.finished",
    "thread.updated",
    "thread.archived",
    "thread.pruned",
    "ban.created",
    "board.updated",
    "report.created",
]
_adapter: TypeAdapter[Event] = TypeAdapter(AnyEvent)

# (type, version) -> function turning that version's JSON object into the next version's.
UPCASTERS: dict[tuple[str, int], Callable[[dict[str, Any]], dict[str, Any]]] = {}


class UndecodableEvent(ValueError):
    """A message that is not an event this code knows (unknown type, broken JSON, bad fields)."""


def decode_event(data: str | bytes | dict[str, Any]) -> Event:
    """Parse an event from its JSON form, upgrading old versions on the way."""
    try:
        raw: Any = data if isinstance(data, dict) else json.loads(data)
        if not isinstance(raw, dict):
            raise UndecodableEvent("an event is a JSON object")
        kind = raw.get("type")
        if kind not in EVENT_TYPES:
            raise UndecodableEvent(f"unknown event type {kind!r}")
        version = int(raw.get("version", 1))
        while (kind, version) in UPCASTERS:
            raw = UPCASTERS[(kind, version)](dict(raw))
            version = int(raw.get("version", version + 1))
        return _adapter.validate_python(raw)
    except (ValidationError, ValueError, TypeError) as exc:
        if isinstance(exc, UndecodableEvent):
            raise
        raise UndecodableEvent(str(exc).splitlines()[0]) from exc


def thread_channel(board: str, thread_no: int) -> str:
    return f"thread:{board}:{thread_no}"


def catalog_channel(board: str) -> str:
    return f"catalog:{board}"

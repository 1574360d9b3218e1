"""Event types: ids, JSON round trips, versions, subjects and channels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from imageboard.events import (
    EVENT_TYPES,
    BanCreated,
    BoardUpdated,
    PostCreated,
    PostUpdated,
    ReportCreated,
    ThreadUpdated,
    UndecodableEvent,
    decode_event,
    new_event_id,
    subject_matches,
)
from imageboard.events.schemas import UPCASTERS, event_id_time


def test_ids_are_unique_sortable_and_carry_their_time() -> None:
    ids = [new_event_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 26 for i in ids)
    assert abs(event_id_time(ids[0]) - datetime.now(UTC)) < timedelta(seconds=2)


@pytest.mark.parametrize("event_type", sorted(EVENT_TYPES))
def test_every_event_type_round_trips_through_json(event_type: str) -> None:
    required = {
        "post.created": {"board": "b", "thread_no": 1, "post_no": 2, "post": {"no": 2, "com": "hi <b>"}},
        "post.deleted": {"board": "b", "thread_no": 1, "post_no": 2},
        "post.updated": {"board": "b", "thread_no": 1, "post_no": 2, "post": {"no": 2, "comment": "edited <b>"}},
        "file.deleted": {"board": "b", "thread_no": 1, "post_no": 2, "sha256": "ab" * 32},
        "file.processed": {"board": "b", "thread_no": 1, "post_no": 2, "sha256": "ab" * 32},
        "file.finished": {"board": "b", "post_id": 9, "tim": 1700000000000123, "status": "failed"},
        "thread.updated": {"board": "b", "thread_no": 1, "sticky": True},
        "thread.archived": {"board": "b", "thread_no": 1},
        "thread.pruned": {"board": "b", "thread_no": 1},
        "ban.created": {"ban_id": 7},
        "board.updated": {"board": "b", "fields": ["rules", "title"]},
        "report.created": {"board": "b", "report_id": 3, "thread_no": 1, "post_no": 2},
    }[event_type]
    event = EVENT_TYPES[event_type](**required)
    again = decode_event(event.to_json())
    assert again == event
    assert type(again) is type(event)
    assert again.type == event_type and again.version == 1
    assert again.occurred_at.tzinfo is not None


def test_subjects_and_channels() -> None:
    post = PostCreated(board="tech", thread_no=10, post_no=12)
    assert post.subject == "post.created.tech"
    assert post.live_channels() == ["thread:tech:10", "catalog:tech"]
    assert BanCreated(ban_id=1).subject == "ban.created._"
    assert not BanCreated.public and not ReportCreated.public
    assert ThreadUpdated(board="b", thread_no=1, locked=True).live_channels()[0] == "thread:b:1"
    assert subject_matches("post.>", "post.created.b")
    assert subject_matches("post.created.*", "post.created.b")
    assert not subject_matches("post.created.*", "post.created")
    assert not subject_matches("post.*", "post.created.b")
    assert subject_matches(">", "ban.created._")


def test_post_updated_and_board_updated_are_public_and_travel_where_readers_look() -> None:
    edited = PostUpdated(board="b", thread_no=1, post_no=2, post={"no": 2, "comment_html": "new"})
    assert edited.subject == "post.updated.b" and PostUpdated.public
    assert edited.live_channels() == ["thread:b:1", "catalog:b"]
    assert subject_matches("post.>", edited.subject)  # what the live feeder listens to
    settings = BoardUpdated(board="b", fields=["rules"])
    assert settings.subject == "board.updated.b" and BoardUpdated.public
    assert settings.live_channels() == []  # the threads did not change
    with pytest.raises(UndecodableEvent):
        decode_event({"type": "board.updated", "id": new_event_id()})  # the board is required


def test_unknown_fields_are_ignored_and_unknown_types_refused() -> None:
    raw = PostCreated(board="b", thread_no=1, post_no=1).model_dump(mode="json")
    raw["added_later"] = "something"
    assert isinstance(decode_event(raw), PostCreated)
    with pytest.raises(UndecodableEvent):
        decode_event({"type": "post.exploded", "id": new_event_id()})
    with pytest.raises(UndecodableEvent):
        decode_event(b"{not json")
    with pytest.raises(UndecodableEvent):
        decode_event({"type": "post.created", "board": "b"})  # missing fields


def test_old_versions_are_upcast(monkeypatch: pytest.MonkeyPatch) -> None:
    def v0_to_v1(raw: dict[str, object]) -> dict[str, object]:
        raw["post_no"] = raw.pop("number")
        raw["version"] = 1
        return raw

    monkeypatch.setitem(UPCASTERS, ("post.created", 0), v0_to_v1)
    event = decode_event(
        {"type": "post.created", "version": 0, "id": new_event_id(), "board": "b", "thread_no": 1, "number": 5}
    )
    assert isinstance(event, PostCreated) and event.post_no == 5 and event.version == 1

"""Server entry points freeze what startup left alive (``imageboard.core.heap``)."""

from __future__ import annotations

import gc

import pytest

from imageboard import asgi
from imageboard.core.heap import YOUNG_THRESHOLD, freeze_startup_objects


def test_the_live_heap_leaves_the_collectors_generations() -> None:
    threshold = gc.get_threshold()
    try:
        tracked = len(gc.get_objects())
        freeze_startup_objects()
        # Everything the collector tracked (the test process's modules and objects) is frozen,
        # and a full collection no longer walks it.
        assert gc.get_freeze_count() >= tracked // 2
        assert len(gc.get_objects()) < tracked // 10
        # Young collections come after YOUNG_THRESHOLD new objects; the older ratios stay.
        assert gc.get_threshold() == (YOUNG_THRESHOLD, *threshold[1:])
        assert threshold[0] < YOUNG_THRESHOLD
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


def test_the_asgi_entry_point_freezes_after_building_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def load_settings() -> str:
        calls.append("settings")
        return "settings"

    def create_app(settings: str) -> str:
        calls.append(f"app from {settings}")
        return "app"

    monkeypatch.setattr(asgi, "load_settings", load_settings)
    monkeypatch.setattr(asgi, "create_app", create_app)
    monkeypatch.setattr(asgi, "freeze_startup_objects", lambda: calls.append("freeze"))
    assert asgi.application() == "app"  # type: ignore[comparison-overlap]
    assert calls == ["settings", "app from settings", "freeze"]

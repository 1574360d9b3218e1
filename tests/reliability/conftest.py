"""Fixtures of the reliability suite: running sites, and the figures the tests measured.

Each test that measures something (requests, 5xx answers, posts accepted and stored,
recovery times, memory) records it with ``figures.record(...)``; the figures are printed at
the end of the run and written to ``$IMAGEBOARD_RELIABILITY_FIGURES`` (JSON) when that is set,
which is where docs/reliability.md takes its numbers from.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.services import Site, start_site, stop_site

_FIGURES: dict[str, dict[str, Any]] = {}


class Figures:
    def record(self, name: str, **values: Any) -> None:
        _FIGURES.setdefault(name, {}).update(values)


@pytest.fixture(scope="session")
def figures() -> Figures:
    return Figures()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, values in _FIGURES.items():
        terminalreporter.write_line(f"{name}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
    target = os.environ.get("IMAGEBOARD_RELIABILITY_FIGURES")
    if target:
        Path(target).write_text(json.dumps(_FIGURES, indent=2, sort_keys=True) + "\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A site on SQLite with anti-spam off: every test here posts from 127.0.0.1, and the
    refusals under test must come from the media, form and HTTP layers, not rate limits."""
    running = start_site(tmp_path_factory.mktemp("reliability") / "site", {"IMAGEBOARD_ANTISPAM": "off"})
    yield running
    stop_site(running)
    # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean stop.
    assert running.server.process.returncode in (0, -signal.SIGTERM), running.log_text()[-3000:]
    assert "Traceback" not in running.log_text(), f"the server logged an unhandled error:\n{running.log_text()[-6000:]}"

"""Operator network lists read from a file, reloaded when the file changes."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pytest

from imageboard.antispam import NetworkList

from ...unit.antispam.fakes import FakeClock

LIST = """\
# Tor exit list, fetched by the operator's cron job
171.25.193.20
ExitAddress 185.220.101.4 2026-11-28 10:00:00
10.20.0.0/16        # a hosting provider
2001:db8:f00::/48
2a0b:f4c2::1
::ffff:203.0.113.0/120
not-an-address
"""


def test_membership_v4_v6_cidrs_and_comments(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "list.txt"
    path.write_text(LIST)
    with caplog.at_level(logging.WARNING):
        networks = NetworkList(path)
    assert networks.count == 6
    assert "171.25.193.20" in networks and "171.25.193.21" not in networks
    assert "185.220.101.4" in networks
    assert "10.20.255.1" in networks and "10.21.0.1" not in networks
    assert "2001:db8:f00:1234::1" in networks and "2001:db8:f01::1" not in networks
    assert "2a0b:f4c2::1" in networks and "2a0b:f4c2::2" not in networks
    assert "203.0.113.77" in networks and "::ffff:203.0.113.77" in networks
    assert "garbage" not in networks
    assert "line 8" in caplog.text or "lines 8" in caplog.text


def test_thousands_of_entries_are_fast(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("\n".join(f"10.{i // 256}.{i % 256}.0/24" for i in range(0, 20_000, 2)))
    networks = NetworkList(path)
    assert networks.count == 10_000
    start = time.perf_counter()
    hits = sum(f"10.{i // 256}.{i % 256}.9" in networks for i in range(20_000))
    elapsed = time.perf_counter() - start
    assert hits == 10_000
    assert elapsed < 1.0, f"20,000 lookups took {elapsed:.3f} s"


def test_reloads_when_the_file_changes(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "list.txt"
    path.write_text("192.0.2.1\n")
    networks = NetworkList(path, check_interval=10, clock=clock)
    assert "192.0.2.1" in networks and "192.0.2.2" not in networks
    # Replaced atomically, the way a cron job should do it.
    draft = tmp_path / "list.txt.new"
    draft.write_text("192.0.2.2\n2001:db8::/32\n")
    os.replace(draft, path)
    assert "192.0.2.1" in networks  # not checked again before the interval
    clock.advance(11)
    assert "192.0.2.2" in networks and "192.0.2.1" not in networks and "2001:db8::5" in networks
    # Rewritten in place (a different size).
    path.write_text("198.51.100.0/24\n")
    clock.advance(11)
    assert "198.51.100.9" in networks and "192.0.2.2" not in networks


def test_missing_file_keeps_the_last_list(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    path = tmp_path / "list.txt"
    path.write_text("192.0.2.1\n")
    networks = NetworkList(path, check_interval=1, clock=clock)
    path.unlink()
    clock.advance(2)
    with caplog.at_level(logging.WARNING):
        assert "192.0.2.1" in networks
    assert "cannot be read" in caplog.text
    absent = NetworkList(tmp_path / "never-there.txt")
    assert absent.count == 0 and "192.0.2.1" not in absent

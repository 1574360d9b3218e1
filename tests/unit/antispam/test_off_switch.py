"""IMAGEBOARD_ANTISPAM=off: everything passes, and start-up says so loudly."""

from __future__ import annotations

import logging

import pytest

from imageboard.antispam import AntispamConfig, SpamPolicy, build_antispam


async def test_off_allows_everything_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    service = build_antispam(AntispamConfig(enabled=False, read_requests=1), secret=b"s")
    with caplog.at_level(logging.WARNING):
        service.log_startup()
    assert "ANTI-SPAM IS OFF" in caplog.text and "IMAGEBOARD_ANTISPAM=on" in caplog.text
    assert caplog.records[0].levelno == logging.WARNING
    policy = SpamPolicy(threads_per_window=1, captcha_mode="all", max_links=0)
    for _ in range(3):
        verdict = await service.check_post(
            ip="192.0.2.1", board="b", is_thread=True, comment="http://a.example " * 3, file_count=500,
            captcha=None, policy=policy, honeypot="bot",
        )
        assert verdict.action == "allow"
        await service.check_read("192.0.2.1")
    await service.aclose()


async def test_on_logs_a_summary_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    service = build_antispam(AntispamConfig(), secret=b"s")
    with caplog.at_level(logging.INFO):
        service.log_startup()
    assert "anti-spam on: in-memory backend" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert service.enabled and service.policy_for() == SpamPolicy()

"""Policies: site defaults from settings, board overrides, and validation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from pydantic import Field

from imageboard.antispam import AntispamConfig, CaptchaAttempt, SpamPolicy, config_from_settings
from imageboard.config import Settings


class WiredSettings(Settings):
    """Settings with exactly the fields the lead adds to imageboard.config.Settings."""

    antispam: Literal["on", "off"] = Field(
        default="on",
        description="Every rate limit, the captcha and the spam checks; 'off' only for development, demos and "
        "load tests (a warning is logged at start-up).",
    )
    redis_url: str = Field(default="", description="redis://host:6379/0 for shared rate limits; empty: in-memory.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs of proxies whose X-Forwarded-For / X-Real-IP are believed, e.g. '[\"10.0.0.0/8\"]'.",
    )
    network_list_file: str = Field(default="", description="File of IPs/CIDRs (e.g. Tor exits); empty: none.")
    antispam_threads_per_window: int = Field(default=3, ge=0)
    antispam_thread_window: float = Field(default=900.0, gt=0)
    antispam_replies_per_window: int = Field(default=6, ge=0)
    antispam_reply_window: float = Field(default=60.0, gt=0)
    antispam_files_per_hour: int = Field(default=60, ge=0)
    antispam_duplicate_window: float = Field(default=600.0, ge=0)
    antispam_site_burst_posts: int = Field(default=60, ge=0)
    antispam_site_burst_window: float = Field(default=10.0, gt=0)
    antispam_read_requests: int = Field(default=600, ge=0)
    antispam_read_window: float = Field(default=60.0, gt=0)
    antispam_max_links: int = Field(default=5, ge=-1)
    antispam_warmup_seconds: float = Field(default=30.0, ge=0)
    antispam_automated_checks: bool = True
    antispam_captcha_mode: Literal["off", "threads", "all"] = "off"
    antispam_network_list_action: Literal["refuse", "captcha", "hold"] = "refuse"
    antispam_pow_bits: int = Field(default=16, ge=1, le=32)
    antispam_captcha_ttl: float = Field(default=600.0, gt=0)
    antispam_grace_posts: int = Field(default=10, ge=0)
    antispam_grace_seconds: float = Field(default=900.0, gt=0)


def test_defaults_are_on_and_match_the_policy_defaults(tmp_path: Path) -> None:
    config = config_from_settings(WiredSettings(data_dir=tmp_path))
    assert config.enabled
    assert config.policy == SpamPolicy()
    assert config == AntispamConfig()


def test_settings_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEBOARD_ANTISPAM", "off")
    monkeypatch.setenv("IMAGEBOARD_TRUSTED_PROXIES", '["10.0.0.0/8", "fd00::/8"]')
    monkeypatch.setenv("IMAGEBOARD_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("IMAGEBOARD_ANTISPAM_CAPTCHA_MODE", "threads")
    monkeypatch.setenv("IMAGEBOARD_ANTISPAM_REPLIES_PER_WINDOW", "2")
    config = config_from_settings(WiredSettings(data_dir=tmp_path))
    assert not config.enabled
    assert config.trusted_proxies == ("10.0.0.0/8", "fd00::/8")
    assert config.redis_url == "redis://127.0.0.1:6379/0"
    assert config.policy.captcha_mode == "threads"
    assert config.policy.replies_per_window == 2


@dataclass
class Board:
    uri: str = "b"
    captcha_mode: str | None = None
    replies_per_window: int | None = None
    max_links: int | None = None


def test_board_overrides_apply_where_set() -> None:
    site = SpamPolicy(replies_per_window=6, max_links=5)
    assert site.for_board(Board()) == site
    board = site.for_board(Board(captcha_mode="all", replies_per_window=2))
    assert board.captcha_mode == "all" and board.replies_per_window == 2 and board.max_links == 5
    assert site.for_board(object()) == site
    assert site.overridden({"uri": "x", "max_links": 0}).max_links == 0


def test_invalid_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="captcha_mode"):
        SpamPolicy(captcha_mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threads_per_window"):
        SpamPolicy(threads_per_window=-1)
    with pytest.raises(ValueError, match="max_links"):
        SpamPolicy(max_links=-2)
    with pytest.raises(ValueError, match="pow_bits"):
        AntispamConfig(pow_bits=40)


def test_captcha_needed() -> None:
    assert not SpamPolicy(captcha_mode="off").captcha_needed(is_thread=True)
    assert SpamPolicy(captcha_mode="threads").captcha_needed(is_thread=True)
    assert not SpamPolicy(captcha_mode="threads").captcha_needed(is_thread=False)
    assert SpamPolicy(captcha_mode="all").captcha_needed(is_thread=False)


def test_captcha_attempt_from_form() -> None:
    attempt = CaptchaAttempt.from_form({"captcha_id": "abc", "pow_nonce": "123"}, {"captcha_grace": "g"})
    assert attempt == CaptchaAttempt("abc", "123", "g")
    # Without JavaScript the id comes from the cookie the picture set.
    attempt = CaptchaAttempt.from_form({"captcha_answer": " kx7 "}, {"captcha_id": "cookie-id"})
    assert attempt == CaptchaAttempt("cookie-id", "kx7", "")
    assert CaptchaAttempt.from_form({}, {"captcha_id": "stale"}).empty

"""What the anti-spam context takes in and hands out: the policy a post is checked against,
the site configuration, the captcha attempt read from a form, and the verdict.

Every limit is a count per window; a count of 0 turns that limit off. Limits behave like a
token bucket (GCRA): a poster may use the whole count at once, and it then refills evenly
over the window — e.g. 6 replies per 60 s lets six replies through at once and then one
every 10 s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Literal, Protocol

CaptchaMode = Literal["off", "threads", "all"]
NetworkAction = Literal["refuse", "captcha", "hold"]
Action = Literal["allow", "hold"]

# Cookies: the id of the captcha picture shown to a page without JavaScript, and the grace pass.
CHALLENGE_COOKIE = "captcha_id"
GRACE_COOKIE = "captcha_grace"

CAPTCHA_MODES: tuple[CaptchaMode, ...] = ("off", "threads", "all")
NETWORK_ACTIONS: tuple[NetworkAction, ...] = ("refuse", "captcha", "hold")

# Board settings that may override the site default (board columns of the same name; NULL
# means "use the site default").
BOARD_OVERRIDABLE: tuple[str, ...] = (
    "threads_per_window",
    "thread_window",
    "replies_per_window",
    "reply_window",
    "files_per_hour",
    "duplicate_window",
    "max_links",
    "warmup_seconds",
    "captcha_mode",
    "network_list_action",
    "automated_checks",
)


@dataclass(frozen=True, slots=True)
class SpamPolicy:
    """The limits and checks one board applies to a post. Site defaults come from settings;
    a board may override any field named in ``BOARD_OVERRIDABLE``."""

    threads_per_window: int = 3
    thread_window: float = 900.0
    replies_per_window: int = 6
    reply_window: float = 60.0
    files_per_hour: int = 60
    duplicate_window: float = 600.0
    # -1: any number of links; 0: no links at all.
    max_links: int = 5
    # A poster first seen less than this long ago may reply, but not start threads or post links.
    warmup_seconds: float = 30.0
    captcha_mode: CaptchaMode = "off"
    network_list_action: NetworkAction = "refuse"
    # The "looks automated" checks: honeypot field, repeated lines, stacked accents, invisible
    # characters, overlong words.
    automated_checks: bool = True
    max_repeated_lines: int = 10
    max_word_length: int = 250

    def __post_init__(self) -> None:
        for name in ("threads_per_window", "replies_per_window", "files_per_hour", "max_repeated_lines"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off) or more")
        for name in ("thread_window", "reply_window", "duplicate_window", "warmup_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more seconds")
        if self.threads_per_window and self.thread_window <= 0:
            raise ValueError("thread_window must be positive when threads_per_window is set")
        if self.replies_per_window and self.reply_window <= 0:
            raise ValueError("reply_window must be positive when replies_per_window is set")
        if self.max_links < -1:
            raise ValueError("max_links must be -1 (no limit), 0 (no links) or more")
        if self.max_word_length < 0:
            raise ValueError("max_word_length must be 0 (off) or more")
        if self.captcha_mode not in CAPTCHA_MODES:
            raise ValueError(f"captcha_mode must be one of {', '.join(CAPTCHA_MODES)}")
        if self.network_list_action not in NETWORK_ACTIONS:
            raise ValueError(f"network_list_action must be one of {', '.join(NETWORK_ACTIONS)}")

    def overridden(self, overrides: Mapping[str, object]) -> SpamPolicy:
        """This policy with the given board overrides applied; ``None`` values are skipped."""
        allowed = set(BOARD_OVERRIDABLE)
        changes = {k: v for k, v in overrides.items() if v is not None and k in allowed}
        return replace(self, **changes) if changes else self  # type: ignore[arg-type]

    def for_board(self, board: object) -> SpamPolicy:
        """The policy of a board: its columns named like ``BOARD_OVERRIDABLE`` override the
        site default when they are not NULL. A board without those columns gets the default."""
        return self.overridden({name: getattr(board, name, None) for name in BOARD_OVERRIDABLE})

    def captcha_needed(self, *, is_thread: bool) -> bool:
        return self.captcha_mode == "all" or (self.captcha_mode == "threads" and is_thread)


@dataclass(frozen=True, slots=True)
class AntispamConfig:
    """Site-wide anti-spam configuration (from the IMAGEBOARD_ANTISPAM_* settings)."""

    enabled: bool = True
    policy: SpamPolicy = field(default_factory=SpamPolicy)
    # Posts across the whole site; 0 turns the burst limit off.
    site_burst_posts: int = 60
    site_burst_window: float = 10.0
    # Read requests (GET/HEAD) per client (IPv6 per /64); 0 turns the read limit off.
    read_requests: int = 600
    read_window: float = 60.0
    # The flood gate: a poster refused this many times within the window is refused at the
    # door (before the post is read) until the count eases; 0 turns the gate off.
    gate_refusals: int = 10
    gate_window: float = 60.0
    # Captcha challenges live this long and are single-use.
    captcha_ttl: float = 600.0
    # Proof-of-work difficulty in leading zero bits of SHA-256 (16: about 65,000 hashes).
    pow_bits: int = 16
    # Challenges one client may ask for per window (image rendering costs CPU).
    captcha_issue_limit: int = 30
    captcha_issue_window: float = 300.0
    # A solved captcha grants this many posts within this many seconds; 0 posts: no grace.
    grace_posts: int = 10
    grace_seconds: float = 900.0
    trusted_proxies: tuple[str, ...] = ()
    redis_url: str = ""
    key_prefix: str = "ib:as:"
    network_list_file: str = ""
    network_list_check_interval: float = 10.0
    # Bound on keys held by the in-memory backend (each is ~150 bytes).
    memory_max_keys: int = 200_000

    def __post_init__(self) -> None:
        if not 1 <= self.pow_bits <= 32:
            raise ValueError("pow_bits must be between 1 and 32")
        for name in ("site_burst_posts", "read_requests", "captcha_issue_limit", "grace_posts", "gate_refusals"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 (off) or more")
        for name in (
            "site_burst_window", "read_window", "captcha_ttl", "captcha_issue_window", "grace_seconds", "gate_window"
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")


class AntispamSettingsSource(Protocol):
    """The fields of the site Settings this context reads (see ``config_from_settings``)."""

    antispam: Literal["on", "off"]
    redis_url: str
    trusted_proxies: list[str]
    network_list_file: str
    antispam_threads_per_window: int
    antispam_thread_window: float
    antispam_replies_per_window: int
    antispam_reply_window: float
    antispam_files_per_hour: int
    antispam_duplicate_window: float
    antispam_site_burst_posts: int
    antispam_site_burst_window: float
    antispam_read_requests: int
    antispam_read_window: float
    antispam_max_links: int
    antispam_warmup_seconds: float
    antispam_automated_checks: bool
    antispam_captcha_mode: Literal["off", "threads", "all"]
    antispam_network_list_action: Literal["refuse", "captcha", "hold"]
    antispam_pow_bits: int
    antispam_captcha_ttl: float
    antispam_grace_posts: int
    antispam_grace_seconds: float


def config_from_settings(settings: AntispamSettingsSource) -> AntispamConfig:
    """The anti-spam configuration from the site Settings."""
    policy = SpamPolicy(
        threads_per_window=settings.antispam_threads_per_window,
        thread_window=settings.antispam_thread_window,
        replies_per_window=settings.antispam_replies_per_window,
        reply_window=settings.antispam_reply_window,
        files_per_hour=settings.antispam_files_per_hour,
        duplicate_window=settings.antispam_duplicate_window,
        max_links=settings.antispam_max_links,
        warmup_seconds=settings.antispam_warmup_seconds,
        captcha_mode=settings.antispam_captcha_mode,
        network_list_action=settings.antispam_network_list_action,
        automated_checks=settings.antispam_automated_checks,
    )
    return AntispamConfig(
        enabled=settings.antispam == "on",
        policy=policy,
        site_burst_posts=settings.antispam_site_burst_posts,
        site_burst_window=settings.antispam_site_burst_window,
        read_requests=settings.antispam_read_requests,
        read_window=settings.antispam_read_window,
        captcha_ttl=settings.antispam_captcha_ttl,
        pow_bits=settings.antispam_pow_bits,
        grace_posts=settings.antispam_grace_posts,
        grace_seconds=settings.antispam_grace_seconds,
        trusted_proxies=tuple(settings.trusted_proxies),
        redis_url=settings.redis_url,
        network_list_file=settings.network_list_file,
    )


@dataclass(frozen=True, slots=True)
class CaptchaAttempt:
    """What a poster sent towards the captcha: a challenge id with its answer (the typed
    characters of an image challenge, or the nonce of a proof-of-work challenge), and/or the
    grace cookie left by an earlier solve."""

    challenge_id: str = ""
    answer: str = ""
    grace: str = ""

    @classmethod
    def from_form(cls, form: Mapping[str, object], cookies: Mapping[str, str]) -> CaptchaAttempt:
        """Read the form fields ``captcha_id`` (or the ``captcha_id`` cookie set by the no-JS
        image), ``captcha_answer`` or ``pow_nonce``, and the grace cookie."""

        def text(name: str) -> str:
            value = form.get(name)
            return value.strip()[:200] if isinstance(value, str) else ""

        answer = text("pow_nonce") or text("captcha_answer")
        challenge = text("captcha_id") or (cookies.get(CHALLENGE_COOKIE, "")[:200] if answer else "")
        return cls(challenge_id=challenge, answer=answer, grace=cookies.get(GRACE_COOKIE, "")[:300])

    @property
    def empty(self) -> bool:
        return not (self.challenge_id and self.answer) and not self.grace


@dataclass(frozen=True, slots=True)
class PostVerdict:
    """The outcome of ``check_post`` that did not raise.

    ``action`` is "allow" or "hold" (store the post for staff approval). ``grace_token``,
    when set, is a new grace cookie value the response should set (see ``GRACE_COOKIE``).
    Hand the verdict back to ``record_post`` after the post is stored, or to ``release``
    when storing it failed.
    """

    action: Action = "allow"
    reasons: tuple[str, ...] = ()
    grace_token: str | None = None
    grace_seconds: float = 0.0
    # Internal bookkeeping for record_post/release.
    subject: str = ""
    comment_digest: str = ""
    duplicate_window: float = 0.0
    consumed: tuple[tuple[str, int, float, int], ...] = ()


@dataclass(frozen=True, slots=True)
class CaptchaWidget:
    """For the post form template. ``required`` is "always" (this form always needs the
    captcha) or "listed" (only posters from listed networks do); it goes into the widget's
    ``data-captcha-required`` attribute, ``listed_must_solve`` into ``data-captcha-listed``."""

    required: Literal["always", "listed"]
    listed_must_solve: bool
    grace_posts: int
    grace_minutes: int


def policy_field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(SpamPolicy))

"""Anti-spam: rate limits (memory or Redis), the built-in captcha, trusted-proxy client
addresses, operator network lists and spam heuristics.

Other contexts use only what is exported here. The FastAPI router and the ASGI middleware
live in ``imageboard.antispam.routes`` and ``imageboard.antispam.middleware``, imported by the
composition root only, so domain code never pulls in the web framework.
"""

from imageboard.antispam.bootstrap import build_antispam
from imageboard.antispam.captcha import CHALLENGE_COOKIE, GRACE_COOKIE, CaptchaService, Challenge, solve_pow
from imageboard.antispam.clientip import TrustedProxies, parse_ip, rate_key, resolve_client_ip
from imageboard.antispam.errors import (
    AntispamUnavailable,
    CaptchaFailed,
    CaptchaRequired,
    LooksAutomated,
    NetworkRefused,
    RateLimited,
)
from imageboard.antispam.heuristics import HONEYPOT_FIELD
from imageboard.antispam.limiter import ChallengeStore, Decision, RateLimiter, Rule
from imageboard.antispam.networks import NetworkList
from imageboard.antispam.schemas import (
    BOARD_OVERRIDABLE,
    AntispamConfig,
    AntispamSettingsSource,
    CaptchaAttempt,
    CaptchaMode,
    CaptchaWidget,
    NetworkAction,
    PostVerdict,
    SpamPolicy,
    config_from_settings,
)
from imageboard.antispam.service import AntispamService

__all__ = [
    "BOARD_OVERRIDABLE",
    "CHALLENGE_COOKIE",
    "GRACE_COOKIE",
    "HONEYPOT_FIELD",
    "AntispamConfig",
    "AntispamService",
    "AntispamSettingsSource",
    "AntispamUnavailable",
    "CaptchaAttempt",
    "CaptchaFailed",
    "CaptchaMode",
    "CaptchaRequired",
    "CaptchaService",
    "CaptchaWidget",
    "Challenge",
    "ChallengeStore",
    "Decision",
    "LooksAutomated",
    "NetworkAction",
    "NetworkList",
    "NetworkRefused",
    "PostVerdict",
    "RateLimited",
    "RateLimiter",
    "Rule",
    "SpamPolicy",
    "TrustedProxies",
    "build_antispam",
    "config_from_settings",
    "parse_ip",
    "rate_key",
    "resolve_client_ip",
    "solve_pow",
]

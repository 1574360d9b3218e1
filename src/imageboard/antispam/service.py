"""The anti-spam use cases: check a post before it is stored, record it after, limit reads,
hand out and check captchas. Built once per process by ``build_antispam``.

A poster is keyed by ``rate_key(ip)`` (the IPv4 address or the IPv6 /64), hashed with the
server secret: the shared store never holds a raw address.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
import unicodedata
from collections.abc import Callable

from imageboard.antispam import heuristics
from imageboard.antispam.captcha import CaptchaService, Challenge, ChallengeKind
from imageboard.antispam.clientip import TrustedProxies, rate_key
from imageboard.antispam.errors import (
    AntispamUnavailable,
    CaptchaRequired,
    LooksAutomated,
    NetworkRefused,
    RateLimited,
    wait_phrase,
)
from imageboard.antispam.limiter import BackendUnavailable, ChallengeStore, Decision, RateLimiter, Rule
from imageboard.antispam.messages import count, refusal
from imageboard.antispam.networks import NetworkList
from imageboard.antispam.schemas import AntispamConfig, CaptchaAttempt, CaptchaWidget, PostVerdict, SpamPolicy
from imageboard.core.errors import DomainError

log = logging.getLogger(__name__)

SEEN_TTL = 24 * 3600.0
UNAVAILABLE_LOG_INTERVAL = 60.0
BANNER = "=" * 72


class AntispamService:
    def __init__(
        self,
        config: AntispamConfig,
        *,
        limiter: RateLimiter,
        challenges: ChallengeStore,
        secret: bytes,
        networks: NetworkList | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.limiter = limiter
        self.networks = networks
        self.trusted_proxies = TrustedProxies(config.trusted_proxies)
        self.captcha = CaptchaService(
            challenges,
            secret=secret,
            ttl=config.captcha_ttl,
            pow_bits=config.pow_bits,
            grace_seconds=config.grace_seconds,
            clock=clock,
        )
        self._subject_key = hashlib.sha256(b"imageboard antispam subject|" + secret).digest()
        self._unavailable_logged = -math.inf

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def policy_for(self, board: object | None = None) -> SpamPolicy:
        """The site policy with a board's overrides (columns named like the policy fields)."""
        return self.config.policy if board is None else self.config.policy.for_board(board)

    def captcha_shown(self, policy: SpamPolicy, *, is_thread: bool) -> bool:
        """Whether the post form should carry the captcha widget (pages are the same for
        everyone, so this includes boards where only listed networks must solve it)."""
        if not self.enabled:
            return False
        listed_need = self.networks is not None and policy.network_list_action == "captcha"
        return policy.captcha_needed(is_thread=is_thread) or listed_need

    def captcha_widget(self, policy: SpamPolicy, *, is_thread: bool) -> CaptchaWidget | None:
        """What the post form's captcha widget needs, or None when the form shows none."""
        if not self.captcha_shown(policy, is_thread=is_thread):
            return None
        return CaptchaWidget(
            required="always" if policy.captcha_needed(is_thread=is_thread) else "listed",
            listed_must_solve=self.networks is not None and policy.network_list_action == "captcha",
            grace_posts=self.config.grace_posts,
            grace_minutes=max(1, round(self.config.grace_seconds / 60)),
        )

    def captcha_widget_for(self, board: object, is_thread: bool) -> CaptchaWidget | None:
        """``captcha_widget`` for a board (read model); meant as a Jinja global for the form."""
        return self.captcha_widget(self.policy_for(board), is_thread=is_thread)

    def is_listed(self, ip: str) -> bool:
        return self.networks is not None and ip in self.networks

    def subject(self, ip: str) -> str:
        return hashlib.blake2b(rate_key(ip).encode(), key=self._subject_key, digest_size=12).hexdigest()

    # -- posting --------------------------------------------------------------------------

    async def check_post(
        self,
        *,
        ip: str,
        board: str,
        is_thread: bool,
        comment: str,
        file_count: int,
        captcha: CaptchaAttempt | None,
        policy: SpamPolicy,
        honeypot: str = "",
    ) -> PostVerdict:
        """Check a post before it is stored. Returns the verdict (allow, or hold for approval)
        or raises: RateLimited (429), CaptchaRequired / CaptchaFailed (400), LooksAutomated
        (400), NetworkRefused (403), AntispamUnavailable (503).

        Every refusal also counts towards the poster's flood gate (see ``check_gate``)."""
        if not self.enabled:
            return PostVerdict()
        try:
            return await self._check_post(
                ip=ip, board=board, is_thread=is_thread, comment=comment, file_count=file_count,
                captcha=captcha, policy=policy, honeypot=honeypot,
            )
        except AntispamUnavailable:
            raise
        except DomainError:
            await self._note_refusal(ip)
            raise

    async def check_gate(self, ip: str) -> None:
        """The flood gate, checked before a post's body is even read: a poster refused
        ``gate_refusals`` times within ``gate_window`` seconds (a robot that keeps posting
        after being told to wait) is refused at once, cheaply, until the count eases."""
        if not self.enabled or not self.config.gate_refusals:
            return
        try:
            decision = await self.limiter.acquire([self._gate_rule(self.subject(ip), consume=False)])
        except BackendUnavailable as exc:
            self._log_unavailable(exc)
            return  # the post itself will meet the outage and say so
        if not decision.allowed:
            raise RateLimited(
                "You kept posting after being asked to wait, so posts from you are refused for a moment. "
                f"Wait {wait_phrase(decision.retry_after)} before posting again.",
                retry_after=decision.retry_after,
                code="flood_gate",
            )

    def _gate_rule(self, subject: str, *, consume: bool = True) -> Rule:
        return Rule(f"x:{subject}", self.config.gate_refusals, self.config.gate_window, consume=consume)

    async def _note_refusal(self, ip: str) -> None:
        if not self.config.gate_refusals:
            return
        try:
            await self.limiter.acquire([self._gate_rule(self.subject(ip))])
        except BackendUnavailable as exc:
            self._log_unavailable(exc)

    async def _check_post(
        self,
        *,
        ip: str,
        board: str,
        is_thread: bool,
        comment: str,
        file_count: int,
        captcha: CaptchaAttempt | None,
        policy: SpamPolicy,
        honeypot: str,
    ) -> PostVerdict:
        listed = self.is_listed(ip)
        if listed and policy.network_list_action == "refuse":
            raise NetworkRefused(
                "Posting from your network (it is on this site's list of proxies and anonymising networks, such "
                "as Tor exits) is not allowed. You can still read; to post, use another connection.",
                code="network_refused",
            )
        heuristics.check_automated(comment, policy, honeypot=honeypot)
        links = heuristics.count_links(comment)
        heuristics.check_links(links, policy)
        if policy.files_per_hour and file_count > policy.files_per_hour:
            raise LooksAutomated(
                f"This board takes at most {policy.files_per_hour} files per hour from one poster, and this post "
                f"has {file_count}. Attach fewer files and post again.",
                field="upfile",
                code="too_many_files",
            )

        subject = self.subject(ip)
        rules = self._post_rules(subject, board, is_thread, comment, file_count, policy)
        digest = _comment_digest(comment)
        checked = list(rules)
        if digest and policy.duplicate_window > 0:
            checked.append(Rule(f"d:{subject}:{digest}", 1, policy.duplicate_window, consume=False))
        decision = await self._acquire(checked, seen_key=f"s:{subject}")
        if not decision.allowed:
            raise self._refusal(checked[decision.refused], decision, policy)
        consumed = [r for r in rules if r.consume]
        try:
            remaining = policy.warmup_seconds - (decision.seen_age or 0.0)
            if remaining > 0 and (is_thread or links):
                raise RateLimited(
                    (
                        f"Your address is new here, so it can start threads in {wait_phrase(remaining)}. "
                        "You can reply to threads meanwhile."
                    )
                    if is_thread
                    else (
                        f"Your address is new here, so posts with links are taken from it in {wait_phrase(remaining)}. "
                        "Post without the links now, or wait and post again."
                    ),
                    retry_after=remaining,
                    code="warming_up",
                )
            grace_token = None
            if policy.captcha_needed(is_thread=is_thread) or (listed and policy.network_list_action == "captcha"):
                grace_token = await self._pass_captcha(
                    captcha or CaptchaAttempt(),
                    policy=policy,
                    allow_grace=not (listed and policy.network_list_action == "captcha"),
                    is_thread=is_thread,
                )
        except BaseException:
            await self._refund(consumed)
            raise
        hold = listed and policy.network_list_action == "hold"
        return PostVerdict(
            action="hold" if hold else "allow",
            reasons=("network_list",) if hold else (),
            grace_token=grace_token,
            grace_seconds=self.config.grace_seconds if grace_token else 0.0,
            subject=subject,
            comment_digest=digest,
            duplicate_window=policy.duplicate_window,
            consumed=tuple((r.key, r.limit, r.window, r.cost) for r in consumed),
        )

    async def record_post(self, verdict: PostVerdict) -> None:
        """After the post was stored: remember its comment for the duplicate check."""
        if not self.enabled or not verdict.comment_digest or verdict.duplicate_window <= 0:
            return
        rule = Rule(f"d:{verdict.subject}:{verdict.comment_digest}", 1, verdict.duplicate_window)
        try:
            await self.limiter.acquire([rule])
        except BackendUnavailable as exc:
            self._log_unavailable(exc)

    async def release(self, verdict: PostVerdict) -> None:
        """Storing the post failed after ``check_post`` passed: give its allowance back, so
        fixing a mistake and posting again does not count twice."""
        if self.enabled and verdict.consumed:
            await self._refund([Rule(key, limit, window, cost) for key, limit, window, cost in verdict.consumed])

    def _post_rules(
        self, subject: str, board: str, is_thread: bool, comment: str, file_count: int, policy: SpamPolicy
    ) -> list[Rule]:
        rules: list[Rule] = []
        if is_thread and policy.threads_per_window:
            rules.append(Rule(f"t:{board}:{subject}", policy.threads_per_window, policy.thread_window))
        if not is_thread and policy.replies_per_window:
            rules.append(Rule(f"r:{board}:{subject}", policy.replies_per_window, policy.reply_window))
        if file_count and policy.files_per_hour:
            rules.append(Rule(f"f:{board}:{subject}", policy.files_per_hour, 3600.0, cost=file_count))
        if self.config.site_burst_posts:
            rules.append(Rule("burst", self.config.site_burst_posts, self.config.site_burst_window))
        return rules

    def _refusal(self, rule: Rule, decision: Decision, policy: SpamPolicy) -> RateLimited:
        return refusal(rule, decision.retry_after, policy)

    async def _pass_captcha(
        self, attempt: CaptchaAttempt, *, policy: SpamPolicy, allow_grace: bool, is_thread: bool
    ) -> str | None:
        """Pass with a live grace pass (no new token) or a solved challenge (maybe a new pass)."""
        spent_pass = False
        if attempt.grace and allow_grace and self.config.grace_posts:
            grace_id = self.captcha.grace_id(attempt.grace)
            if grace_id is not None:
                decision = await self._acquire([self._grace_rule(grace_id)])
                if decision.allowed:
                    return None
            spent_pass = True
        if attempt.challenge_id and attempt.answer:
            try:
                await self.captcha.verify(attempt.challenge_id, attempt.answer)
            except BackendUnavailable as exc:
                self._log_unavailable(exc)
                raise self._unavailable() from exc
            return self.captcha.grant() if allow_grace and self.config.grace_posts else None
        if spent_pass:
            raise CaptchaRequired(
                f"Your captcha pass has run out (one solve covers {count(self.config.grace_posts, 'post')} within "
                f"{wait_phrase(self.config.grace_seconds)}). Solve the captcha on the form and post again.",
                field="captcha_answer",
            )
        if not allow_grace:
            message = (
                "Posts from your network (it is on this site's list of proxies and anonymising networks) need a "
                "captcha every time. Solve the captcha on the form and post again."
            )
        else:
            what = "every post" if policy.captcha_mode == "all" else "new threads"
            message = (
                f"This board asks for a captcha on {what}. Solve the captcha on the form — type the characters "
                "in the picture, or let the page's script work it out — and post again."
            )
        raise CaptchaRequired(message, field="captcha_answer")

    def _grace_rule(self, grace_id: str, *, consume: bool = True) -> Rule:
        # A window of (posts + 1) lifetimes: the allowance cannot refill a whole post before
        # the pass expires, so a pass covers exactly ``grace_posts`` posts.
        posts = self.config.grace_posts
        return Rule(f"g:{grace_id}", posts, self.config.grace_seconds * (posts + 1), consume=consume)

    async def grace_left(self, token: str) -> bool:
        """Whether a grace pass is valid and has a post left (without using one)."""
        if not self.enabled or not token or not self.config.grace_posts:
            return False
        grace_id = self.captcha.grace_id(token)
        if grace_id is None:
            return False
        return (await self._acquire([self._grace_rule(grace_id, consume=False)])).allowed

    # -- captcha challenges ---------------------------------------------------------------

    async def issue_challenge(self, ip: str, kind: ChallengeKind) -> Challenge:
        if self.enabled and self.config.captcha_issue_limit:
            rule = Rule(f"ci:{self.subject(ip)}", self.config.captcha_issue_limit, self.config.captcha_issue_window)
            decision = await self._acquire([rule])
            if not decision.allowed:
                raise RateLimited(
                    f"You asked for {self.config.captcha_issue_limit} captchas in a short time. Wait "
                    f"{wait_phrase(decision.retry_after)}, then reload the page.",
                    retry_after=decision.retry_after,
                    code="captcha_limit",
                )
        try:
            return await self.captcha.issue(kind)
        except BackendUnavailable as exc:
            self._log_unavailable(exc)
            raise self._unavailable() from exc

    async def verify_captcha(self, challenge_id: str, answer: str) -> str | None:
        """Check an answer outside of a post (``POST /captcha/verify``); returns a new grace
        pass when passes are enabled."""
        try:
            await self.captcha.verify(challenge_id, answer)
        except BackendUnavailable as exc:
            self._log_unavailable(exc)
            raise self._unavailable() from exc
        return self.captcha.grant() if self.config.grace_posts else None

    # -- reading --------------------------------------------------------------------------

    async def check_read(self, ip: str) -> None:
        """Count one read request; raise RateLimited past the read limit. When the store
        cannot be reached, reads are let through (and that is logged)."""
        if not self.enabled or not self.config.read_requests:
            return
        subject = self.subject(ip)
        rule = Rule(f"q:{subject}", self.config.read_requests, self.config.read_window)
        try:
            decision = await self.limiter.acquire([rule], seen_key=f"s:{subject}", seen_ttl=SEEN_TTL)
        except BackendUnavailable as exc:
            self._log_unavailable(exc)
            return
        if not decision.allowed:
            raise RateLimited(
                f"You are loading pages faster than this site allows ({self.config.read_requests} per "
                f"{wait_phrase(self.config.read_window)}). Wait {wait_phrase(decision.retry_after)}, then reload.",
                retry_after=decision.retry_after,
                code="read_limit",
            )

    # -- lifecycle ------------------------------------------------------------------------

    def log_startup(self, logger: logging.Logger | None = None) -> None:
        """Call once at start-up: a loud warning when anti-spam is off, a summary otherwise."""
        target = logger or log
        if not self.enabled:
            target.warning(
                "\n%s\n  ANTI-SPAM IS OFF (IMAGEBOARD_ANTISPAM=off): no rate limits, no captcha, no network\n"
                "  lists, no spam checks. Anyone can flood this site. Use this only for local\n"
                "  development, demos and load tests; set IMAGEBOARD_ANTISPAM=on for real use.\n%s",
                BANNER,
                BANNER,
            )
            return
        target.info(
            "anti-spam on: %s backend, captcha %s, %d trusted proxy network(s), network list %s",
            "Redis" if self.config.redis_url else "in-memory",
            self.config.policy.captcha_mode,
            len(self.trusted_proxies.networks),
            f"{self.config.network_list_file} ({self.networks.count} entries)" if self.networks else "none",
        )

    async def aclose(self) -> None:
        await self.limiter.aclose()
        await self.captcha.store.aclose()

    # -- helpers --------------------------------------------------------------------------

    async def _acquire(self, rules: list[Rule], *, seen_key: str | None = None) -> Decision:
        try:
            return await self.limiter.acquire(rules, seen_key=seen_key, seen_ttl=SEEN_TTL if seen_key else 0)
        except BackendUnavailable as exc:
            self._log_unavailable(exc)
            raise self._unavailable() from exc

    async def _refund(self, rules: list[Rule]) -> None:
        if not rules:
            return
        try:
            await self.limiter.refund(rules)
        except BackendUnavailable as exc:
            self._log_unavailable(exc)

    def _unavailable(self) -> AntispamUnavailable:
        return AntispamUnavailable(
            "Posting is paused for a moment because the site's anti-spam store cannot be reached. "
            "Wait half a minute and post again.",
            retry_after=30,
        )

    def _log_unavailable(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._unavailable_logged >= UNAVAILABLE_LOG_INTERVAL:
            self._unavailable_logged = now
            log.error("anti-spam store unreachable (%s): posting pauses, reads pass unlimited", exc)


def _comment_digest(comment: str) -> str:
    """Same comment = same text after Unicode normalisation, case folding and collapsing
    whitespace; empty comments (file-only posts) are never duplicates."""
    text = " ".join(unicodedata.normalize("NFKC", comment).casefold().split())
    if not text:
        return ""
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()

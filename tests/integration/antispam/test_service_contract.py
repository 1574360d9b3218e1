"""Every limit of the anti-spam service, on the in-memory backend and on the real Redis."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from imageboard.antispam import (
    AntispamConfig,
    CaptchaAttempt,
    CaptchaFailed,
    CaptchaRequired,
    LooksAutomated,
    NetworkList,
    NetworkRefused,
    PostVerdict,
    RateLimited,
    SpamPolicy,
    solve_pow,
)
from imageboard.antispam.errors import AntispamUnavailable
from imageboard.antispam.memory import MemoryChallengeStore
from imageboard.antispam.redis_backend import RedisRateLimiter, connect
from imageboard.antispam.service import AntispamService

from .conftest import SECRET, Backend

# Limits off unless a test turns one on, so each test sees only the limit it is about.
QUIET = SpamPolicy(
    threads_per_window=0,
    replies_per_window=0,
    files_per_hour=0,
    duplicate_window=0,
    warmup_seconds=0,
    max_links=-1,
)
CONFIG = AntispamConfig(policy=QUIET, site_burst_posts=0, read_requests=0, pow_bits=4, grace_posts=2)
IP = "198.51.100.7"


async def post(
    service: AntispamService,
    policy: SpamPolicy,
    *,
    ip: str = IP,
    board: str = "b",
    thread: bool = False,
    comment: str = "hello",
    files: int = 0,
    captcha: CaptchaAttempt | None = None,
) -> PostVerdict:
    return await service.check_post(
        ip=ip, board=board, is_thread=thread, comment=comment, file_count=files, captcha=captcha, policy=policy
    )


async def test_thread_limit(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, threads_per_window=2, thread_window=1.0)
    await post(service, policy, thread=True)
    await post(service, policy, thread=True)
    with pytest.raises(RateLimited) as refused:
        await post(service, policy, thread=True)
    assert refused.value.status == 429 and refused.value.code == "thread_limit"
    assert refused.value.retry_after == 1
    assert "2 new threads per 1 second" in refused.value.message and "Wait 1 second" in refused.value.message
    # Replies, other boards and other posters are counted apart.
    await post(service, policy, thread=False)
    await post(service, policy, thread=True, board="tech")
    await post(service, policy, thread=True, ip="198.51.100.8")
    await backend.advance(0.55)
    await post(service, policy, thread=True)


async def test_reply_limit(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, replies_per_window=3, reply_window=1.5)
    for n in range(3):
        await post(service, policy, comment=f"reply {n}")
    with pytest.raises(RateLimited) as refused:
        await post(service, policy, comment="one too many")
    assert refused.value.code == "reply_limit"
    assert "3 replies per 1 second" in refused.value.message or "3 replies per 2 seconds" in refused.value.message
    await post(service, policy, thread=True)
    await backend.advance(0.55)
    await post(service, policy, comment="again")


async def test_files_per_hour(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, files_per_hour=5)
    await post(service, policy, files=3)
    with pytest.raises(RateLimited) as refused:
        await post(service, policy, files=3)
    assert refused.value.code == "file_limit"
    assert 700 <= refused.value.retry_after <= 721
    assert "12 minutes" in refused.value.message and "post without files" in refused.value.message
    await post(service, policy, files=2)
    await post(service, policy, files=0)
    with pytest.raises(LooksAutomated) as too_many:
        await post(service, policy, files=6, ip="198.51.100.9")
    assert too_many.value.code == "too_many_files" and "at most 5 files per hour" in too_many.value.message


async def test_duplicate_comment(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, duplicate_window=1.0)
    verdict = await post(service, policy, comment="Buy cheap watches")
    # Not yet recorded (the post might still fail): a retry passes.
    await post(service, policy, comment="Buy cheap watches")
    await service.record_post(verdict)
    with pytest.raises(RateLimited) as refused:
        await post(service, policy, comment="  buy CHEAP\nwatches ")
    assert refused.value.code == "duplicate_comment" and "same comment" in refused.value.message
    await post(service, policy, comment="something else")
    await post(service, policy, comment="Buy cheap watches", ip="198.51.100.99")
    await service.record_post(await post(service, policy, comment=""))
    await post(service, policy, comment="")  # file-only posts are never duplicates
    await backend.advance(1.1)
    await post(service, policy, comment="Buy cheap watches")


async def test_site_burst_limit(backend: Backend) -> None:
    service = backend.service(replace(CONFIG, site_burst_posts=3, site_burst_window=1.5))
    policy = replace(QUIET, replies_per_window=1, reply_window=60)
    await post(service, policy, ip="192.0.2.1")
    # A flooder refused by its own limit does not use up the site's allowance.
    for _ in range(5):
        with pytest.raises(RateLimited, match="too fast"):
            await post(service, policy, ip="192.0.2.1")
    await post(service, policy, ip="192.0.2.2")
    await post(service, policy, ip="192.0.2.3")
    with pytest.raises(RateLimited) as refused:
        await post(service, policy, ip="192.0.2.4")
    assert refused.value.code == "site_busy" and "Wait 1 second" in refused.value.message
    await backend.advance(0.55)
    await post(service, policy, ip="192.0.2.4")


async def test_read_limit_per_client_and_per_64(backend: Backend) -> None:
    service = backend.service(replace(CONFIG, read_requests=3, read_window=1.5))
    for _ in range(3):
        await service.check_read("2001:db8:1:2::1")
    with pytest.raises(RateLimited) as refused:
        await service.check_read("2001:db8:1:2:ffff::9")  # same /64
    assert refused.value.code == "read_limit" and refused.value.retry_after == 1
    assert "Wait 1 second, then reload" in refused.value.message
    await service.check_read("2001:db8:1:3::1")  # the next /64
    await service.check_read("192.0.2.10")
    await backend.advance(0.55)
    await service.check_read("2001:db8:1:2::1")


async def test_post_limits_group_ipv6_by_64(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, threads_per_window=1, thread_window=60)
    await post(service, policy, thread=True, ip="2001:db8:aa:bb::1")
    with pytest.raises(RateLimited):
        await post(service, policy, thread=True, ip="2001:db8:aa:bb:1234:5678:9abc:def0")
    await post(service, policy, thread=True, ip="2001:db8:aa:bc::1")


async def test_concurrent_flood_is_held_to_the_limit(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, replies_per_window=5, reply_window=60)
    results = await asyncio.gather(
        *(post(service, policy, comment=f"flood {n}") for n in range(40)), return_exceptions=True
    )
    assert sum(isinstance(r, PostVerdict) for r in results) == 5
    assert all(isinstance(r, RateLimited) for r in results if not isinstance(r, PostVerdict))


async def test_release_gives_the_allowance_back(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, threads_per_window=1, thread_window=60)
    verdict = await post(service, policy, thread=True)
    await service.release(verdict)  # storing the post failed
    await post(service, policy, thread=True)
    with pytest.raises(RateLimited):
        await post(service, policy, thread=True)


async def test_warm_up_for_new_posters(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, warmup_seconds=0.6, threads_per_window=5, thread_window=60)
    with pytest.raises(RateLimited) as thread:
        await post(service, policy, thread=True)
    assert thread.value.code == "warming_up" and "You can reply to threads meanwhile" in thread.value.message
    await post(service, policy, comment="a plain reply is fine")
    with pytest.raises(RateLimited, match="Post without the links"):
        await post(service, policy, comment="see https://spam.example")
    await backend.advance(0.7)
    await post(service, policy, thread=True, comment="https://fine.example now")
    # The refused attempts did not use up the thread allowance: five more fit... minus the one above.
    for _ in range(4):
        await post(service, policy, thread=True)


async def test_reading_starts_the_warm_up(backend: Backend) -> None:
    service = backend.service(replace(CONFIG, read_requests=100))
    policy = replace(QUIET, warmup_seconds=0.4)
    await service.check_read(IP)
    await backend.advance(0.5)
    await post(service, policy, thread=True)


async def test_captcha_required_solved_and_replay_refused(backend: Backend) -> None:
    service = backend.service(replace(CONFIG, grace_posts=0))
    policy = replace(QUIET, captcha_mode="all")
    with pytest.raises(CaptchaRequired) as required:
        await post(service, policy)
    assert "Solve the captcha" in required.value.message and "every post" in required.value.message
    challenge = await service.issue_challenge(IP, "pow")
    attempt = CaptchaAttempt(challenge.id, solve_pow(challenge.id, challenge.bits))
    verdict = await post(service, policy, captcha=attempt)
    assert verdict.action == "allow" and verdict.grace_token is None
    with pytest.raises(CaptchaFailed) as replay:
        await post(service, policy, captcha=attempt)
    assert replay.value.code == "captcha_used"


async def test_text_captcha_wrong_and_expired(backend: Backend) -> None:
    service = backend.service(replace(CONFIG, captcha_ttl=1.0))
    policy = replace(QUIET, captcha_mode="threads")
    await post(service, policy, thread=False)  # replies need none
    challenge = await service.issue_challenge(IP, "text")
    with pytest.raises(CaptchaFailed, match="wrong"):
        await post(service, policy, thread=True, captcha=CaptchaAttempt(challenge.id, "WRONG1"))
    late = await service.issue_challenge(IP, "text")
    await backend.advance(1.2)
    with pytest.raises(CaptchaFailed) as expired:
        await post(service, policy, thread=True, captcha=CaptchaAttempt(late.id, service.captcha.text_for(late.id)))
    assert expired.value.code == "captcha_expired"
    fresh = await service.issue_challenge(IP, "text")
    await post(service, policy, thread=True, captcha=CaptchaAttempt(fresh.id, service.captcha.text_for(fresh.id)))


async def test_failed_captcha_does_not_use_up_limits(backend: Backend) -> None:
    service = backend.service(CONFIG)
    policy = replace(QUIET, captcha_mode="all", replies_per_window=1, reply_window=60)
    with pytest.raises(CaptchaRequired):
        await post(service, policy)
    challenge = await service.issue_challenge(IP, "pow")
    await post(service, policy, captcha=CaptchaAttempt(challenge.id, solve_pow(challenge.id, challenge.bits)))


async def test_grace_pass_covers_a_number_of_posts(backend: Backend) -> None:
    service = backend.service(CONFIG)  # grace_posts=2
    policy = replace(QUIET, captcha_mode="all")
    challenge = await service.issue_challenge(IP, "pow")
    verdict = await post(service, policy, captcha=CaptchaAttempt(challenge.id, solve_pow(challenge.id, 4)))
    assert verdict.grace_token and verdict.grace_seconds == CONFIG.grace_seconds
    grace = CaptchaAttempt(grace=verdict.grace_token)
    assert await service.grace_left(verdict.grace_token)
    await post(service, policy, captcha=grace)
    await post(service, policy, captcha=grace)
    assert not await service.grace_left(verdict.grace_token)
    with pytest.raises(CaptchaRequired, match="pass has run out"):
        await post(service, policy, captcha=grace)
    with pytest.raises(CaptchaRequired):
        await post(service, policy, captcha=CaptchaAttempt(grace=verdict.grace_token + "x"))


async def test_captcha_issuing_is_limited(backend: Backend) -> None:
    service = backend.service(replace(CONFIG, captcha_issue_limit=2, captcha_issue_window=60))
    await service.issue_challenge(IP, "text")
    await service.issue_challenge(IP, "pow")
    with pytest.raises(RateLimited) as refused:
        await service.issue_challenge(IP, "text")
    assert refused.value.code == "captcha_limit"


def _listed(tmp_path: Path) -> NetworkList:
    path = tmp_path / "tor-exits.txt"
    path.write_text("# Tor exits\n198.51.100.0/24\n2001:db8:dead::/48\n")
    return NetworkList(path)


async def test_network_list_refuse(backend: Backend, tmp_path: Path) -> None:
    service = backend.service(CONFIG, networks=_listed(tmp_path))
    policy = replace(QUIET, network_list_action="refuse")
    with pytest.raises(NetworkRefused) as refused:
        await post(service, policy, ip="198.51.100.200")
    assert refused.value.status == 403 and "use another connection" in refused.value.message
    with pytest.raises(NetworkRefused):
        await post(service, policy, ip="2001:db8:dead:1::5")
    await post(service, policy, ip="192.0.2.50")


async def test_network_list_captcha_every_post(backend: Backend, tmp_path: Path) -> None:
    service = backend.service(CONFIG, networks=_listed(tmp_path))
    policy = replace(QUIET, network_list_action="captcha")
    await post(service, policy, ip="192.0.2.50")  # not listed: no captcha on this board
    with pytest.raises(CaptchaRequired, match="every time"):
        await post(service, policy, ip="198.51.100.5")
    challenge = await service.issue_challenge("198.51.100.5", "pow")
    verdict = await post(
        service, policy, ip="198.51.100.5", captcha=CaptchaAttempt(challenge.id, solve_pow(challenge.id, 4))
    )
    assert verdict.grace_token is None  # no pass for listed networks: every post needs a solve
    assert service.captcha_shown(policy, is_thread=False)


async def test_network_list_hold(backend: Backend, tmp_path: Path) -> None:
    service = backend.service(CONFIG, networks=_listed(tmp_path))
    policy = replace(QUIET, network_list_action="hold")
    held = await post(service, policy, ip="198.51.100.5")
    assert held.action == "hold" and held.reasons == ("network_list",)
    assert (await post(service, policy, ip="192.0.2.50")).action == "allow"


async def test_heuristics_run_in_check_post(backend: Backend) -> None:
    service = backend.service(CONFIG)
    with pytest.raises(LooksAutomated, match="at most 1"):
        await post(service, replace(QUIET, max_links=1), comment="http://a.example http://b.example")
    with pytest.raises(LooksAutomated) as honeypot:
        await service.check_post(
            ip=IP, board="b", is_thread=False, comment="hi", file_count=0, captcha=None, policy=QUIET,
            honeypot="http://spam.example",
        )
    assert honeypot.value.code == "honeypot"


async def test_off_switch_turns_everything_off(backend: Backend, tmp_path: Path) -> None:
    service = backend.service(
        replace(CONFIG, enabled=False, read_requests=1, site_burst_posts=1), networks=_listed(tmp_path)
    )
    policy = SpamPolicy(threads_per_window=1, replies_per_window=1, captcha_mode="all", max_links=0)
    for _ in range(5):
        verdict = await post(service, policy, ip="198.51.100.5", thread=True, comment="http://x.example", files=99)
        assert verdict.action == "allow"
        await service.record_post(verdict)
        await service.check_read(IP)
    assert not service.captcha_shown(policy, is_thread=True)


async def test_redis_down_pauses_posting_and_lets_reads_through() -> None:
    client = connect("redis://127.0.0.1:1/0")  # nothing listens on port 1
    service = AntispamService(
        replace(CONFIG, read_requests=5),
        limiter=RedisRateLimiter(client),
        challenges=MemoryChallengeStore(),
        secret=SECRET,
    )
    policy = replace(QUIET, replies_per_window=5)
    with pytest.raises(AntispamUnavailable) as paused:
        await post(service, policy)
    assert paused.value.status == 503 and paused.value.retry_after == 30
    await service.check_read(IP)
    await client.aclose()


async def test_flood_gate_closes_after_repeated_refusals(backend: Backend) -> None:
    service = backend.service(replace(CONFIG, gate_refusals=3, gate_window=1.5))
    policy = replace(QUIET, replies_per_window=1, reply_window=60)
    await post(service, policy)
    await service.check_gate(IP)
    for _ in range(3):
        with pytest.raises(RateLimited, match="too fast"):
            await post(service, policy)
    with pytest.raises(RateLimited) as gated:
        await service.check_gate(IP)
    assert gated.value.code == "flood_gate" and gated.value.retry_after == 1
    await service.check_gate("198.51.100.8")  # only the flooder is shut out
    await backend.advance(0.55)
    await service.check_gate(IP)


async def test_build_antispam_on_redis(redis_prefix: str) -> None:
    from imageboard.antispam import build_antispam

    from .conftest import REDIS_URL

    service = build_antispam(replace(CONFIG, redis_url=REDIS_URL, key_prefix=redis_prefix), secret=SECRET)
    assert type(service.limiter).__name__ == "RedisRateLimiter"
    policy = replace(QUIET, threads_per_window=1, thread_window=60)
    await post(service, policy, thread=True)
    with pytest.raises(RateLimited):
        await post(service, policy, thread=True)
    # A second process (another service on the same Redis) sees the same limits.
    other = build_antispam(replace(CONFIG, redis_url=REDIS_URL, key_prefix=redis_prefix), secret=SECRET)
    with pytest.raises(RateLimited):
        await post(other, policy, thread=True)
    await other.aclose()
    await service.aclose()

"""The captcha: single use, expiry, wrong answers, proof of work, grace passes, the picture."""

from __future__ import annotations

import pytest

from imageboard.antispam import CaptchaFailed, solve_pow
from imageboard.antispam.captcha import TEXT_ALPHABET, CaptchaService, leading_zero_bits, pow_digest
from imageboard.antispam.memory import MemoryChallengeStore

from .fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def captcha(clock: FakeClock) -> CaptchaService:
    return CaptchaService(
        MemoryChallengeStore(clock=clock), secret=b"s", ttl=120, pow_bits=8, grace_seconds=60, clock=clock
    )


async def test_text_answer_accepted_once_then_replay_refused(captcha: CaptchaService) -> None:
    challenge = await captcha.issue("text")
    answer = captcha.text_for(challenge.id)
    assert len(answer) == 6 and set(answer) <= set(TEXT_ALPHABET)
    await captcha.verify(challenge.id, answer.lower()[:3] + " " + answer[3:])
    with pytest.raises(CaptchaFailed) as replay:
        await captcha.verify(challenge.id, answer)
    assert replay.value.code == "captcha_used"
    assert "already used" in replay.value.message and "Reload the page" in replay.value.message


async def test_wrong_answer_refused_and_uses_up_the_challenge(captcha: CaptchaService) -> None:
    challenge = await captcha.issue("text")
    with pytest.raises(CaptchaFailed) as wrong:
        await captcha.verify(challenge.id, "AAAAAA" if captcha.text_for(challenge.id) != "AAAAAA" else "CCCCCC")
    assert wrong.value.code == "captcha_failed"
    assert "wrong" in wrong.value.message
    with pytest.raises(CaptchaFailed):
        await captcha.verify(challenge.id, captcha.text_for(challenge.id))


async def test_expired_challenge_refused(captcha: CaptchaService, clock: FakeClock) -> None:
    challenge = await captcha.issue("text")
    clock.advance(121)
    with pytest.raises(CaptchaFailed) as expired:
        await captcha.verify(challenge.id, captcha.text_for(challenge.id))
    assert expired.value.code == "captcha_expired"
    assert "2 minutes" in expired.value.message


async def test_unknown_and_malformed_ids(captcha: CaptchaService) -> None:
    for bogus in ("", "short", "../../etc/passwd", "x" * 100, "ffffffp" + "A" * 20):
        with pytest.raises(CaptchaFailed):
            await captcha.verify(bogus, "ABCDEF")


async def test_proof_of_work(captcha: CaptchaService) -> None:
    challenge = await captcha.issue("pow")
    assert challenge.as_json()["bits"] == 8 and challenge.as_json()["prefix"] == challenge.id + ":"
    nonce = solve_pow(challenge.id, 8)
    assert leading_zero_bits(pow_digest(challenge.id, nonce)) >= 8
    await captcha.verify(challenge.id, nonce)
    with pytest.raises(CaptchaFailed, match="already used"):
        await captcha.verify(challenge.id, nonce)


async def test_proof_of_work_that_does_not_check_out(captcha: CaptchaService) -> None:
    challenge = await captcha.issue("pow")
    bad = next(str(n) for n in range(10_000) if leading_zero_bits(pow_digest(challenge.id, str(n))) < 8)
    with pytest.raises(CaptchaFailed, match="does not check out"):
        await captcha.verify(challenge.id, bad)
    other = await captcha.issue("pow")
    with pytest.raises(CaptchaFailed, match="malformed"):
        await captcha.verify(other.id, "n" * 100)


async def test_a_text_answer_does_not_pass_a_pow_challenge(captcha: CaptchaService) -> None:
    challenge = await captcha.issue("pow")
    with pytest.raises(CaptchaFailed):
        await captcha.verify(challenge.id, captcha.text_for(challenge.id))


def test_leading_zero_bits() -> None:
    assert leading_zero_bits(b"\x00\x00\x80") == 16
    assert leading_zero_bits(b"\x00\x01") == 15
    assert leading_zero_bits(b"\xff") == 0
    assert leading_zero_bits(b"\x00\x00") == 16


def test_grace_pass_signature_and_expiry(captcha: CaptchaService, clock: FakeClock) -> None:
    token = captcha.grant()
    grace_id = captcha.grace_id(token)
    assert grace_id and token.startswith(grace_id)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert captcha.grace_id(forged) is None
    other = CaptchaService(MemoryChallengeStore(), secret=b"other", clock=clock)
    assert other.grace_id(token) is None
    assert captcha.grace_id("a.b") is None and captcha.grace_id("a.zz.c") is None
    clock.advance(61)
    assert captcha.grace_id(token) is None


async def test_picture_is_a_png_only_for_live_text_challenges(captcha: CaptchaService) -> None:
    challenge = await captcha.issue("text")
    png = await captcha.image(challenge.id)
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000
    assert await captcha.image("ffffffpunknownchallengeid") is None
    assert await captcha.image((await captcha.issue("pow")).id) is None
    # Looking at the picture does not use the challenge up.
    await captcha.verify(challenge.id, captcha.text_for(challenge.id))

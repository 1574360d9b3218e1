"""The built-in captcha: proof of work for browsers with JavaScript, a distorted text image
for those without, and a short grace pass after a solve.

* Proof of work (hash-cash): the client finds a nonce such that SHA-256 of
  ``"<challenge id>:<nonce>"`` starts with ``bits`` zero bits (2**bits hashes on average;
  16 bits takes a phone one or two seconds with Web Crypto). It asks nothing of the person —
  no seeing, hearing, reading or dragging — so it works with screen readers, switch access
  and any language. It does not stop a determined robot (native code solves it in
  milliseconds); it makes each automated post cost work, and the rate limits do the rest.
* Text image (no JavaScript): six characters from an alphabet without look-alikes, drawn
  with pyvips, rotated, warped, crossed with lines and noise. The answer is derived from
  the challenge id with the server secret (HMAC), so the store holds no answer at all.
* Every challenge is a random id stored with a time to live, taken (read and deleted in
  one atomic step) when an answer arrives: right or wrong, it is gone — a replay finds
  nothing. Comparisons are constant-time.
* A solve can grant a grace pass (like jschan's block bypass): an HMAC-signed cookie value
  valid for ``grace_seconds`` and a number of posts counted by the rate limiter.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from imageboard.antispam.errors import CaptchaFailed, wait_phrase
from imageboard.antispam.limiter import ChallengeStore
from imageboard.antispam.schemas import CHALLENGE_COOKIE, GRACE_COOKIE

__all__ = ["CHALLENGE_COOKIE", "GRACE_COOKIE", "CaptchaService", "Challenge", "solve_pow"]

ChallengeKind = Literal["pow", "text"]

TEXT_ALPHABET = "ACDEFHJKLMNPRTUVWXY347"  # no 0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B look-alikes
TEXT_LENGTH = 6
MAX_NONCE_LENGTH = 32
IMAGE_WIDTH = 240
IMAGE_HEIGHT = 80


@dataclass(frozen=True, slots=True)
class Challenge:
    id: str
    kind: ChallengeKind
    bits: int
    expires_in: float

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"id": self.id, "kind": self.kind, "expires_in": int(self.expires_in)}
        if self.kind == "pow":
            body["bits"] = self.bits
            body["prefix"] = self.id + ":"
        else:
            body["image"] = f"/captcha/image?id={self.id}"
        return body


def leading_zero_bits(digest: bytes) -> int:
    bits = 0
    for byte in digest:
        if byte == 0:
            bits += 8
            continue
        return bits + 8 - byte.bit_length()
    return bits


def pow_digest(challenge_id: str, nonce: str) -> bytes:
    return hashlib.sha256(f"{challenge_id}:{nonce}".encode()).digest()


def solve_pow(challenge_id: str, bits: int, *, limit: int = 1 << 26) -> str:
    """Find a nonce (for tests and scripted clients)."""
    for counter in range(limit):
        nonce = str(counter)
        if leading_zero_bits(pow_digest(challenge_id, nonce)) >= bits:
            return nonce
    raise RuntimeError("no nonce found")


def normalise_answer(answer: str) -> str:
    return "".join(answer.split()).upper()


class CaptchaService:
    def __init__(
        self,
        store: ChallengeStore,
        *,
        secret: bytes,
        ttl: float = 600.0,
        pow_bits: int = 16,
        grace_seconds: float = 900.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self._key = hashlib.sha256(b"imageboard antispam captcha|" + secret).digest()
        self.ttl = ttl
        self.pow_bits = pow_bits
        self.grace_seconds = grace_seconds
        self.clock = clock

    # -- challenges ---------------------------------------------------------------------

    async def issue(self, kind: ChallengeKind = "pow") -> Challenge:
        # The id starts with its issue time, so a missing challenge can be told apart as
        # expired (the time is only used to word the error, never trusted for access).
        challenge_id = f"{int(self.clock()):x}{kind[0]}{secrets.token_urlsafe(15)}"
        await self.store.put(challenge_id, f"{kind}:{self.pow_bits if kind == 'pow' else 0}", self.ttl)
        return Challenge(challenge_id, kind, self.pow_bits if kind == "pow" else 0, self.ttl)

    def text_for(self, challenge_id: str) -> str:
        mac = hmac.new(self._key, b"text|" + challenge_id.encode(), hashlib.sha256).digest()
        return "".join(TEXT_ALPHABET[byte % len(TEXT_ALPHABET)] for byte in mac[:TEXT_LENGTH])

    async def exists(self, challenge_id: str, kind: ChallengeKind) -> bool:
        value = await self.store.peek(challenge_id) if _plausible(challenge_id) else None
        return value is not None and value.startswith(kind + ":")

    async def image(self, challenge_id: str) -> bytes | None:
        """The PNG of a live text challenge (a new distortion on every call), or None."""
        if not await self.exists(challenge_id, "text"):
            return None
        text = self.text_for(challenge_id)
        return await asyncio.to_thread(render_text_image, text, secrets.randbits(64))

    async def verify(self, challenge_id: str, answer: str) -> None:
        """Accept a right answer once. Raises CaptchaFailed saying what went wrong."""
        stored = await self.store.take(challenge_id) if _plausible(challenge_id) else None
        if stored is None:
            raise self._gone(challenge_id)
        kind, _, bits_text = stored.partition(":")
        if kind == "pow":
            nonce = answer.strip()
            if not nonce or len(nonce) > MAX_NONCE_LENGTH or not nonce.isascii():
                raise CaptchaFailed(
                    "The captcha's proof of work is missing or malformed. Reload the page and post again.",
                    field="captcha_answer",
                )
            if leading_zero_bits(pow_digest(challenge_id, nonce)) < int(bits_text or self.pow_bits):
                raise CaptchaFailed(
                    "The captcha's proof of work does not check out. Reload the page and post again.",
                    field="captcha_answer",
                )
            return
        expected = self.text_for(challenge_id).encode()
        given = normalise_answer(answer)[:64].encode()
        if not hmac.compare_digest(expected, given):
            raise CaptchaFailed(
                "The captcha answer was wrong, and each picture can be tried only once. Reload the page for a "
                "new picture, type the characters you see (capitals or small letters both work) and post again.",
                field="captcha_answer",
            )

    def _gone(self, challenge_id: str) -> CaptchaFailed:
        issued = _issued_at(challenge_id)
        if issued is not None and self.clock() - issued >= self.ttl:
            return CaptchaFailed(
                f"The captcha expired: each one lasts {wait_phrase(self.ttl)}. "
                "Reload the page for a new one and post again.",
                field="captcha_answer",
                code="captcha_expired",
            )
        return CaptchaFailed(
            "That captcha was already used (each one works once) or is unknown. "
            "Reload the page for a new one and post again.",
            field="captcha_answer",
            code="captcha_used",
        )

    # -- grace passes -------------------------------------------------------------------

    def grant(self) -> str:
        """A new grace pass: ``<id>.<expiry, hex seconds>.<signature>``."""
        grace_id = secrets.token_urlsafe(12)
        expires = f"{math.ceil(self.clock() + self.grace_seconds):x}"
        return f"{grace_id}.{expires}.{self._sign(grace_id, expires)}"

    def grace_id(self, token: str) -> str | None:
        """The pass's id when the signature is right and it has not expired."""
        parts = token.split(".")
        if len(parts) != 3 or len(token) > 200:
            return None
        grace_id, expires, signature = parts
        if not hmac.compare_digest(self._sign(grace_id, expires).encode(), signature.encode()):
            return None
        try:
            if int(expires, 16) <= self.clock():
                return None
        except ValueError:
            return None
        return grace_id

    def _sign(self, grace_id: str, expires: str) -> str:
        mac = hmac.new(self._key, f"grace|{grace_id}|{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:18]).decode()


def _plausible(challenge_id: str) -> bool:
    return 8 <= len(challenge_id) <= 64 and all(c.isalnum() or c in "-_" for c in challenge_id)


def _issued_at(challenge_id: str) -> int | None:
    for index, char in enumerate(challenge_id):
        if char in "pt" and index:
            try:
                return int(challenge_id[:index], 16)
            except ValueError:
                return None
    return None


def render_text_image(text: str, seed: int) -> bytes:
    """Draw ``text`` as a distorted grey PNG: rotated glyphs, a sine warp, lines and noise."""
    import pyvips

    rng = random.Random(seed)
    width, height = IMAGE_WIDTH, IMAGE_HEIGHT
    canvas = pyvips.Image.black(width, height)
    x = rng.randint(8, 18)
    for char in text:
        glyph = pyvips.Image.text(char, font=f"DejaVu Sans Bold {rng.randint(34, 42)}", dpi=72)
        glyph = glyph.rotate(rng.uniform(-28, 28))
        top = rng.randint(2, max(2, height - glyph.height - 2))
        canvas = (canvas + glyph.embed(x, top, width, height)).cast("uchar")
        x += max(22, glyph.width - rng.randint(2, 9))
        if x > width - 30:
            x = width - 30
    # A sine warp on both axes (vips' sin takes degrees).
    grid = pyvips.Image.xyz(width, height)
    shift_x = (grid[1] * (360 / rng.uniform(45, 80)) + rng.uniform(0, 360)).sin() * rng.uniform(2.5, 4.5)
    shift_y = (grid[0] * (360 / rng.uniform(60, 110)) + rng.uniform(0, 360)).sin() * rng.uniform(3.0, 6.0)
    canvas = canvas.mapim(grid + shift_x.bandjoin(shift_y))
    for _ in range(rng.randint(4, 7)):
        canvas = canvas.draw_line(
            255, rng.randint(0, width), rng.randint(0, height), rng.randint(0, width), rng.randint(0, height)
        )
    noise = pyvips.Image.gaussnoise(width, height, sigma=32, mean=0, seed=rng.randint(0, 2**31 - 1))
    image = ((255 - canvas).cast("float") + noise).cast("uchar")
    data: bytes = image.write_to_buffer(".png", compression=6)
    return data

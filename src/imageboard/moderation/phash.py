"""Comparing perceptual hashes for file bans.

The hash itself is the media context's (``imageboard.media.perceptual_hash``, a 64-bit dHash
kept with every stored picture); a ban holds one as 16 hex digits and a tolerance in bits.
Re-encoding or resizing flips a few bits, where unrelated pictures differ in about 32.
"""

from __future__ import annotations

BITS = 64


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def to_hex(value: int) -> str:
    return f"{value & ((1 << BITS) - 1):016x}"


def from_hex(text: str) -> int:
    value = text.strip().lower()
    if len(value) != 16 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("a perceptual hash is 16 hex digits")
    return int(value, 16)

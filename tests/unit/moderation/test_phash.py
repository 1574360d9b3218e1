"""Comparing perceptual hashes for file bans: distances and the hex form bans are kept in.
(The hash itself is the media context's: tests/unit/media/test_phash.py.)"""

from __future__ import annotations

import pytest

from imageboard.moderation import phash


def test_distance_counts_differing_bits() -> None:
    assert phash.distance(0, 0) == 0
    assert phash.distance(0b1011, 0b0001) == 2
    assert phash.distance(0, 2**64 - 1) == 64


def test_hex_form() -> None:
    assert phash.to_hex(2**64 - 1) == "f" * 16
    assert phash.to_hex(255) == "00000000000000ff"
    assert phash.from_hex("00000000000000ff") == 255
    assert phash.from_hex(" 00000000000000FF\n") == 255
    assert phash.from_hex(phash.to_hex(0x0123456789ABCDEF)) == 0x0123456789ABCDEF
    for bad in ("xyz", "ff", "0" * 17, "g" * 16):
        with pytest.raises(ValueError, match="16 hex digits"):
            phash.from_hex(bad)

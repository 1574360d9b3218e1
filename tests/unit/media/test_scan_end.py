"""The end of a JPEG scan is found by a regular expression; it must agree with the plain
reading of the rules (0xFF00 stuffing, restart markers, fill bytes) on any bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imageboard.media.strip import Malformed, _jpeg_scan_end


def reference(data: bytes, pos: int) -> int | None:
    while True:
        j = data.find(b"\xff", pos)
        if j < 0 or j + 1 >= len(data):
            return None
        following = data[j + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            pos = j + 2
        elif following == 0xFF:
            pos = j + 1
        else:
            return j


def found(data: bytes, pos: int) -> int | None:
    try:
        return _jpeg_scan_end(data, pos)
    except Malformed:
        return None


# Bytes rich in the ones that matter, so every rule is exercised.
_BYTES = st.lists(st.sampled_from([0x00, 0xFF, 0xD0, 0xD7, 0xD8, 0xD9, 0xC4, 0x12]), max_size=64).map(bytes)


@given(_BYTES, st.integers(min_value=0, max_value=8))
def test_agrees_with_the_rules(data: bytes, pos: int) -> None:
    assert found(data, pos) == reference(data, pos)


@pytest.mark.parametrize(
    ("data", "end"),
    [
        (b"\x12\xff\x00\x34\xff\xd9", 4),  # stuffed byte, then EOI
        (b"\xff\xd0\x12\xff\xff\xff\xc4", 5),  # restart marker, fill bytes before DHT
        (b"\x12\x34\xff\x00", None),  # no marker: the data ends early
        (b"\x12\xff", None),
    ],
)
def test_examples(data: bytes, end: int | None) -> None:
    assert found(data, 0) == end

"""The pure-Python DES crypt(3) must agree bit for bit with the C library's."""

from __future__ import annotations

import random
import re
import warnings
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageboard.boards.des_crypt import ALPHABET, des_crypt

with warnings.catch_warnings():
    # Deprecated since 3.11 and removed in 3.13; here it is only the reference to test against.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt as _stdlib_crypt
    except ImportError:  # Python 3.13+ or a platform without crypt(3)
        _stdlib_crypt = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def reference() -> Callable[[str, str], str]:
    if _stdlib_crypt is None:
        pytest.skip("the stdlib crypt module is not importable")
    # libxcrypt can be built without DES; then there is nothing to compare against.
    if _stdlib_crypt.crypt("test", "es") != "esH.CzKQna1OU":
        pytest.skip("the system crypt(3) has no traditional DES")

    def call(password: str, salt: str) -> str:
        result = _stdlib_crypt.crypt(password, salt)
        assert result is not None
        return result

    return call


salts = st.tuples(st.sampled_from(ALPHABET), st.sampled_from(ALPHABET)).map("".join)


# Produced by the C library's crypt(3) through Python 3.11's crypt module.
@pytest.mark.parametrize(
    ("password", "salt", "expected"),
    [
        ("faggot", "ag", "agPEp8pui8Vw2"),
        ("test", "es", "esH.CzKQna1OU"),
        ("a", "H.", "H.6ZnBI2EKkq."),
        ("", "..", "..X8NBuQ4l6uQ"),
        ("password", "ab", "abJnggxhB/yWI"),
        ("zzzzzzzz", "zz", "zzQ4PRDdoNSjw"),
        ("Hello, World!", "/.", "/.bkye0UveXko"),
        ("é", "Zz", "ZzJeQxvAPErjQ"),
        ("12345678", "9A", "9AXTAB8W/zfvo"),
    ],
)
def test_known_vectors(password: str, salt: str, expected: str) -> None:
    assert des_crypt(password, salt) == expected
    assert des_crypt(password.encode(), salt) == expected


def test_many_random_keys_and_salts_match_libc(reference: Callable[[str, str], str]) -> None:
    rng = random.Random(20240618)
    for _ in range(1000):
        password = "".join(chr(rng.randint(1, 127)) for _ in range(rng.randint(0, 12)))
        salt = rng.choice(ALPHABET) + rng.choice(ALPHABET)
        assert des_crypt(password, salt) == reference(password, salt), (password, salt)


@settings(max_examples=200, deadline=None)
@given(password=st.text(st.characters(min_codepoint=1, max_codepoint=127), max_size=12), salt=salts)
def test_ascii_keys_match_libc(reference: Callable[[str, str], str], password: str, salt: str) -> None:
    assert des_crypt(password, salt) == reference(password, salt)


@settings(max_examples=200, deadline=None)
@given(
    password=st.text(st.characters(min_codepoint=1, codec="utf-8"), max_size=6),
    salt=salts,
)
def test_non_ascii_keys_match_libc(reference: Callable[[str, str], str], password: str, salt: str) -> None:
    # Multi-byte UTF-8 puts bytes with the high bit set into the key, which crypt(3) drops.
    assert des_crypt(password, salt) == reference(password, salt)


def test_the_high_bit_of_each_key_byte_is_ignored() -> None:
    low = bytes(range(0x41, 0x49))
    assert des_crypt(bytes(b | 0x80 for b in low), "xy") == des_crypt(low, "xy")


def test_a_0x80_byte_contributes_zero_bits_but_does_not_end_the_key() -> None:
    # Its key bits are all zero, like a NUL's, but only a NUL ends the C string.
    assert des_crypt(b"\x80abc", "ab") != des_crypt(b"", "ab")
    assert des_crypt(b"\x80abc", "ab") != des_crypt(b"abc", "ab")


def test_a_nul_byte_ends_the_key() -> None:
    assert des_crypt(b"abc\0def", "ab") == des_crypt(b"abc", "ab")


def test_only_the_first_eight_bytes_count() -> None:
    assert des_crypt("abcdefgh", "ab") == des_crypt("abcdefghijklmnop", "ab")
    assert des_crypt("abcdefg", "ab") != des_crypt("abcdefgh", "ab")


def test_characters_after_the_salt_are_ignored() -> None:
    assert des_crypt("secret", "abcdefghijklm") == des_crypt("secret", "ab")
    assert des_crypt("secret", "abcdefghijklm").startswith("ab")


@pytest.mark.parametrize("salt", ["", "a", "a!", "!a", "ä.", "a b"])
def test_invalid_salts_are_rejected(salt: str) -> None:
    with pytest.raises(ValueError, match="salt"):
        des_crypt("secret", salt)


@settings(max_examples=50, deadline=None)
@given(password=st.binary(max_size=12), salt=salts)
def test_output_is_salt_plus_eleven_crypt_characters(password: bytes, salt: str) -> None:
    result = des_crypt(password, salt)
    assert re.fullmatch(r"[./0-9A-Za-z]{13}", result)
    assert result[:2] == salt
    # The last character carries four bits and two zero bits of padding.
    assert ALPHABET.index(result[-1]) % 4 == 0

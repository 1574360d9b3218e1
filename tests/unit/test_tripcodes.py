"""Tripcodes: classic ones must equal 4chan/futaba's, secure ones depend on the server secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imageboard.boards.tripcodes import Signature, classic_tripcode, secure_tripcode, sign

SECRET = b"test-secret"


# The first two are the well-known 4chan vectors. The rest were computed with futaba's algorithm
# on top of the C library's crypt(3), called with the Shift_JIS bytes through ctypes.
@pytest.mark.parametrize(
    ("password", "expected"),
    [
        ("faggot", "!Ep8pui8Vw2"),
        ("test", "!.CzKQna1OU"),
        ("トリップ", "!XSSH/ryx32"),  # Shift_JIS bytes; salt "g" + a lead byte -> "g."
        ("日本語", "!06jO0o602k"),
        ("ｱｲｳ", "!zkIhcSWiPo"),  # half-width katakana: single bytes above 0x7F
        ("ム", "!9pa/vfKIss"),  # Shift_JIS 83 80: a 0x80 byte inside the key
        ("a&b", "!vbZwEe8/SY"),  # hashed as "a&amp;b", salt "&a" -> ".a"
        ("\"<>'", "!LZ4ugyvTWU"),  # "&quot;&lt;&gt;&#39;"
        ("a<", "!n.ao5iKg9I"),
        ("a>b", "!labYBrneog"),
        ("a'b", "!JRnmJ1pG42"),
        ('a"b', "!.5HnWOZ4h6"),
        ("&&&", "!sS3IIIdY12"),
        ("a", "!ZnBI2EKkq."),  # one character: salt "H."
        ("#", "!u2YjtUz8MU"),
        ("abcdefgh", "!/Pbzx9FKd2"),
        ("abcdefghijk", "!/Pbzx9FKd2"),  # only eight bytes count
        ("password123", "!ozOtJW9BFA"),
        ("tripcode with spaces", "!3GqYIJ3Obs"),
        ("a:;b", "!5x8Zjzx8R."),  # salt ":;" -> "AB"
        ("x[\\]", "!6vVhyKfMQc"),  # salt "[\" -> "ab"
        ("a`b_c", "!yQteLNYeLA"),  # salt "`b" -> "fb"
        ("a^@", "!qT9qiqfilI"),  # salt "^@" -> "dG"
        ("12345678", "!WBRXcNtpf."),
        ("~", "!LpJR0bXBSc"),
        ("\\", "!9xUxYS2dlM"),
        ("?", "!cPUZU5OGFs"),
    ],
)
def test_classic_vectors(password: str, expected: str) -> None:
    assert classic_tripcode(password) == expected


@pytest.mark.parametrize("password", ["Ä", "😀", "♥"])
def test_characters_outside_shift_jis_hash_as_question_marks(password: str) -> None:
    assert classic_tripcode(password) == "!cPUZU5OGFs" == classic_tripcode("?")


def test_yen_sign_is_the_shift_jis_backslash() -> None:
    assert classic_tripcode("¥") == classic_tripcode("\\") == "!9xUxYS2dlM"


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=20))
def test_classic_tripcode_shape(password: str) -> None:
    assert re.fullmatch(r"![./0-9A-Za-z]{10}", classic_tripcode(password))


@pytest.mark.parametrize(
    ("password", "expected"),
    [("password", "!!qbjQ49BT8cb"), ("トリップ", "!!9KE/af4W5bg"), ("a#b", "!!bcKmmADPHYC")],
)
def test_secure_vectors(password: str, expected: str) -> None:
    assert secure_tripcode(password, secret=SECRET) == expected


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_secure_tripcode_is_the_hmac_in_base64(password: str) -> None:
    digest = hmac.new(SECRET, password.encode(), hashlib.sha256).digest()
    expected = "!!" + base64.b64encode(digest).decode()[:11].replace("+", ".")
    result = secure_tripcode(password, secret=SECRET)
    assert result == expected
    assert re.fullmatch(r"!![./0-9A-Za-z]{11}", result)


def test_secure_tripcode_depends_on_the_secret() -> None:
    assert secure_tripcode("pw", secret=b"one") != secure_tripcode("pw", secret=b"two")


def test_secure_tripcode_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="secret"):
        secure_tripcode("pw", secret=b"")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", Signature("", None)),
        ("Anonymous", Signature("Anonymous", None)),
        ("  spaced name  ", Signature("spaced name", None)),
        ("名無し", Signature("名無し", None)),
        ("moot#faggot", Signature("moot", "!Ep8pui8Vw2")),
        ("  moot  #faggot", Signature("moot", "!Ep8pui8Vw2")),
        ("#faggot", Signature("", "!Ep8pui8Vw2")),
        ("moot#", Signature("moot", None)),
        ("moot##", Signature("moot", None)),
        ("moot#faggot##", Signature("moot", "!Ep8pui8Vw2")),
        ("moot##password", Signature("moot", "!!qbjQ49BT8cb")),
        ("##password", Signature("", "!!qbjQ49BT8cb")),
        ("moot#faggot##password", Signature("moot", "!Ep8pui8Vw2!!qbjQ49BT8cb")),
        ("名無し#トリップ", Signature("名無し", "!XSSH/ryx32")),
        # Only the first "#" ends the name; later single ones belong to the password.
        ("moot#a#b", Signature("moot", classic_tripcode("a#b"))),
        ("moot###a#b", Signature("moot", secure_tripcode("#a#b", secret=SECRET))),
        ("moot##a#b", Signature("moot", "!!bcKmmADPHYC")),
        ("moot#x##a#b", Signature("moot", classic_tripcode("x") + "!!bcKmmADPHYC")),
    ],
)
def test_sign(raw: str, expected: Signature) -> None:
    assert sign(raw, secret=SECRET) == expected


def test_passwords_are_used_as_typed() -> None:
    assert sign("moot#faggot ", secret=SECRET).tripcode == classic_tripcode("faggot ")
    assert sign("moot#faggot ", secret=SECRET).tripcode != "!Ep8pui8Vw2"


def test_a_classic_tripcode_needs_no_secret() -> None:
    assert sign("moot#faggot", secret=b"") == Signature("moot", "!Ep8pui8Vw2")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_sign_never_leaks_the_password(raw: str) -> None:
    signature = sign(raw, secret=SECRET)
    name, hash_sign, password = raw.partition("#")
    assert signature.name == name.strip()
    assert "#" not in signature.name
    if hash_sign and password.strip("#"):
        assert signature.tripcode is not None
        assert re.fullmatch(r"(![./0-9A-Za-z]{10})?(!![./0-9A-Za-z]{11})?", signature.tripcode)
    if not hash_sign:
        assert signature.tripcode is None
    # A password of four or more characters cannot survive hashing into the output.
    shown = signature.name + (signature.tripcode or "")
    for part in password.split("#"):
        if len(part) >= 4 and part not in name:
            assert part not in shown

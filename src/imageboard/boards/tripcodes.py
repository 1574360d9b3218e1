"""Tripcodes: let an anonymous poster prove that two posts come from the same person.

A poster types ``name#password`` into the name field; the password is replaced by a hash of it.

* Classic tripcodes (``name#password``) reproduce 4chan/futaba exactly, so a poster keeps the
  tripcode they have elsewhere: ``crypt(3)`` DES of the Shift_JIS password with a salt taken
  from the password itself. Anyone can compute them, and eight-character DES is cheap to brute
  force, so they are a convenience, not a credential.
* Secure tripcodes (``name##password``) are an HMAC keyed with the server secret: they cannot be
  computed or searched for offline, but they only mean something on this site (and only while
  the secret stays the same).

The password never leaves this module: it is not stored in the returned value, logged or put in
any exception message.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

from imageboard.boards.des_crypt import des_crypt

__all__ = ["Signature", "classic_tripcode", "secure_tripcode", "sign"]


@dataclass(frozen=True)
class Signature:
    """What a post shows in place of the raw name field."""

    name: str  # display name without the #password part ("" if none was given)
    tripcode: str | None  # "!Ep8pui8Vw2", "!!AbCdEfGhIjK", or both: "!Ep8pui8Vw2!!AbCdEfGhIjK"


# futaba runs the whole name field through htmlspecialchars() before it looks for the
# tripcode, so the hash is of the escaped text; 4chan kept that, and a different escape would
# change everyone's tripcode. "&" comes first so the other entities are not escaped twice.
_HTML_ESCAPES = (("&", "&amp;"), ('"', "&quot;"), ("'", "&#39;"), ("<", "&lt;"), (">", "&gt;"))
# Salt characters between "." and "z" that are not valid crypt salt characters, and the ones
# futaba substitutes for them.
_SALT_FIXUP = bytes.maketrans(b":;<=>?@[\\]^_`", b"ABCDEFGabcdef")


def _escape_html(text: str) -> str:
    for char, entity in _HTML_ESCAPES:
        text = text.replace(char, entity)
    return text


def classic_tripcode(password: str) -> str:
    """Return the 4chan/futaba tripcode of ``password``: ``"!"`` and ten characters.

    The escaped password is encoded as Shift_JIS (JIS X 0208, Python's ``shift_jis`` codec).
    A character Shift_JIS cannot represent (emoji, most non-Japanese scripts, accented Latin
    letters) becomes ``?``, which is what PHP's ``mb_convert_encoding()`` on 4chan substitutes
    by default; such passwords therefore share tripcodes with their ``?`` spellings there too.
    """
    data = _escape_html(password).encode("shift_jis", errors="replace")
    # The salt is taken from the encoded bytes, as PHP's substr() does: a multi-byte character
    # at positions 1-2 contributes its bytes, and those are all outside "."-"z", so they
    # become ".".
    salt = bytes(b if 0x2E <= b <= 0x7A else 0x2E for b in (data + b"H.")[1:3])
    return "!" + des_crypt(data, salt.translate(_SALT_FIXUP).decode("ascii"))[-10:]


def secure_tripcode(password: str, *, secret: bytes) -> str:
    """Return the secure tripcode of ``password``: ``"!!"`` and eleven characters.

    The characters are base64 of HMAC-SHA256(secret, UTF-8 password) with ``+`` written as
    ``.``, so secure and classic tripcodes share one alphabet (``./0-9A-Za-z``) and neither
    needs escaping in HTML or in a URL path.

    Raises ``ValueError`` if ``secret`` is empty: without a secret the "secure" tripcode could be
    computed, and searched for, by anyone.
    """
    if not secret:
        raise ValueError("secure tripcodes need a non-empty server secret")
    digest = hmac.new(secret, password.encode("utf-8"), hashlib.sha256).digest()
    # 9 bytes are exactly 12 base64 characters with no padding; 11 of them are kept (66 bits).
    return "!!" + base64.b64encode(digest[:9]).decode("ascii")[:11].replace("+", ".")


def sign(raw_name: str, *, secret: bytes) -> Signature:
    """Split the raw name field into the display name and the tripcode.

    ``name#pass`` gives a classic tripcode, ``name##pass`` a secure one and ``name#pass##spass``
    both. The first ``#`` ends the name; an empty password gives no tripcode of that kind. The
    name is stripped of surrounding whitespace; passwords are used exactly as typed, because
    changing them would change the tripcode the poster already has elsewhere.
    """
    name, hash_sign, secrets = raw_name.partition("#")
    name = name.strip()
    if not hash_sign:
        return Signature(name=name, tripcode=None)
    if secrets.startswith("#"):
        classic_password, secure_password = "", secrets[1:]
    else:
        classic_password, _, secure_password = secrets.partition("##")
    tripcode = ""
    if classic_password:
        tripcode += classic_tripcode(classic_password)
    if secure_password:
        tripcode += secure_tripcode(secure_password, secret=secret)
    return Signature(name=name, tripcode=tripcode or None)

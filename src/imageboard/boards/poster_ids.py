"""Per-thread poster IDs: a short tag that links one poster's posts inside a thread.

The ID must let readers see "these posts are by the same person" without revealing who that
is, so it is a keyed hash (HMAC-SHA256 with the server secret) of the board, the thread and the
poster's address. Without the secret nobody can test guessed addresses against an ID, and
because the board and thread are part of the message the same poster gets unrelated IDs in
different threads, so posts cannot be linked across threads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress

__all__ = ["ID_LENGTH", "poster_id"]

ID_LENGTH = 8


def _poster_key(ip: str) -> str:
    """The part of the address that identifies one poster."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        # Not an address (a test client, a unix socket peer): still give a stable ID rather than
        # failing the post.
        return ip
    if address.version == 6:
        mapped = address.ipv4_mapped
        if mapped is not None:
            # Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d; they are the same poster
            # as a.b.c.d.
            return str(mapped)
        # An IPv6 host usually owns a whole /64 and rotates its privacy address inside it every
        # few hours (RFC 8981), so the full address would give one poster several IDs in a
        # long thread. The /64 is what identifies a subscriber.
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def poster_id(ip: str, *, board: str, thread_no: int, secret: bytes) -> str:
    """Return the 8-character ID of the poster at ``ip`` in thread ``thread_no`` of ``board``.

    The alphabet is ``A-Za-z0-9+.``: base64 with ``/`` replaced by ``.``, so the ID can sit in
    HTML and in a URL path without escaping. IPv6 addresses count per /64 and IPv4-mapped IPv6
    addresses as their IPv4 address.

    Raises ``ValueError`` if ``secret`` is empty, because IDs made without a secret could be
    matched to addresses by anyone who hashes candidate addresses themselves.
    """
    if not secret:
        raise ValueError("poster IDs need a non-empty server secret")
    message = f"{board}:{thread_no}:{_poster_key(ip)}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    # 6 bytes encode to exactly 8 base64 characters, without padding.
    return base64.b64encode(digest[:6]).decode("ascii").replace("/", ".")

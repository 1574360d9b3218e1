"""Offline IP-to-country lookup for country flags, using geoip2fast's bundled database.

No network access is ever made: the database is the MaxMind GeoLite2-derived file shipped
inside the geoip2fast wheel, so it is as current as the installed package.

Loading costs memory and time (CPython 3.11, x86-64, VmRSS): the IPv4+IPv6 database takes
about 47 MiB and 75-80 ms, the IPv4-only one about 27 MiB and 45 ms; importing geoip2fast adds
about 10 MiB more in a bare interpreter, under 1 MiB in a web worker that has already imported
the same standard modules. Most boards show no flags, so nothing is imported or loaded until
the first lookup (or an explicit :func:`preload`), and then exactly once per process. A lookup
then takes about 7 microseconds.

geoip2fast keeps the loaded database in module-level globals of its own, so a process holds
one database at a time; nothing else in this project should instantiate ``GeoIP2Fast``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

__all__ = ["Country", "country_of", "preload"]

_log = logging.getLogger(__name__)

# The combined file also contains every IPv4 network, so it replaces the IPv4-only one.
_IPV4_FILE = "geoip2fast.dat.gz"
_IPV6_FILE = "geoip2fast-ipv6.dat.gz"
_MAX_IPV4 = 0xFFFFFFFF


@dataclass(frozen=True)
class Country:
    """A country as shown next to a post."""

    code: str  # ISO 3166-1 alpha-2, upper case, e.g. "DE"
    name: str  # English name, e.g. "Germany"


class _State:
    """The loaded database, or the fact that loading failed, behind one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.attempted = False
        self.reader: Any = None  # geoip2fast.GeoIP2Fast, which has no type information
        self.ipv6 = False


_state = _State()


def _import_geoip2fast() -> Any:
    # Importing geoip2fast sets PYTHONWARNINGS=ignore and PYTHONIOENCODING=utf-8 in
    # os.environ, which every child process (workers, test runners) would inherit. Put the
    # environment back the way it was.
    saved = {key: os.environ.get(key) for key in ("PYTHONWARNINGS", "PYTHONIOENCODING")}
    try:
        import geoip2fast.geoip2fast as module
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return module


def _load(ipv6: bool) -> None:
    """Load the database unless that was already attempted. Call with the lock held."""
    if _state.attempted:
        return
    try:
        module = _import_geoip2fast()
        # The loader measures its own memory use by running `ps` in a subprocess, twice. A web
        # worker has no use for that figure, and forking from a busy multi-threaded server
        # (or failing to, where `ps` is absent) is a cost and a surprise; skip it while we load.
        measure = module.get_mem_usage
        module.get_mem_usage = lambda: 0.0
        # A bare file name would be looked for in the current directory first, and the file is
        # a pickle: only ever load the copy inside the installed package.
        path = os.path.join(os.path.dirname(module.__file__), _IPV6_FILE if ipv6 else _IPV4_FILE)
        try:
            # verbose=False is what keeps geoip2fast from printing its "is ready!" line.
            reader = module.GeoIP2Fast(verbose=False, geoip2fast_data_file=path)
        finally:
            module.get_mem_usage = measure
    except Exception:
        _log.exception("GeoIP database could not be loaded; country flags are disabled")
    else:
        _state.reader = reader
        _state.ipv6 = bool(reader.ipv6)
    finally:
        # Set last: lookups skip the lock once this is true, so the reader must already be in
        # place. Also set after a failure, so a broken install does not retry on every post.
        _state.attempted = True


def preload(*, ipv6: bool = True) -> bool:
    """Load the database now, so the first post with a flag does not wait for it.

    The first call to this function or to :func:`country_of` decides which database is loaded:
    IPv4+IPv6 by default, IPv4 only (about 20 MiB less) with ``ipv6=False``; later calls change
    nothing. Returns whether a database is available. Never raises.
    """
    with _state.lock:
        _load(ipv6)
        return _state.reader is not None


def _lookup_address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address to look up, or None when it can have no country."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d.
        address = address.ipv4_mapped
    # ipaddress knows the IANA special-purpose registries (private, loopback, link-local,
    # documentation, shared, reserved ...). is_global alone lets multicast through.
    if not address.is_global or address.is_multicast:
        return None
    if address.version == 6 and int(address) <= _MAX_IPV4:
        # geoip2fast keeps IPv4 and IPv6 networks in one integer space, so an IPv6 address
        # such as ::8.8.8.8 would be answered with the IPv4 network's country.
        return None
    return address


def country_of(ip: str) -> Country | None:
    """Return the country of ``ip``, or None if it has none or cannot be told.

    None is returned for invalid input, private, loopback, link-local, multicast and other
    special-purpose addresses, ranges the database does not cover, and for IPv6 when only the
    IPv4 database was loaded (see :func:`preload`). ``::ffff:a.b.c.d`` is looked up as
    ``a.b.c.d``. Never raises: a flag is decoration and must not fail a post.
    """
    try:
        address = _lookup_address(ip)
        if address is None:
            return None
        if not _state.attempted:
            # Double-checked: once loading has been attempted, lookups take no lock.
            with _state.lock:
                _load(ipv6=True)
        reader = _state.reader
        if reader is None or (address.version == 6 and not _state.ipv6):
            return None
        result = reader.lookup(str(address))
        code = result.country_code
        name = result.country_name
        # Failures come back as "--" or "" with a description in place of the name; MaxMind's
        # continent-level ranges carry codes like "ASIA". Only two-letter codes are countries.
        # ("EU" and "XK" pass: MaxMind uses them, and flag sets have images for both.)
        if (
            result.is_private
            or not isinstance(code, str)
            or not isinstance(name, str)
            or len(code) != 2
            or not (code.isascii() and code.isalpha() and code.isupper())
            or not name
        ):
            return None
        return Country(code=code, name=name)
    except Exception:
        # Not expected; logged without the address, which is personal data.
        _log.exception("GeoIP lookup failed")
        return None

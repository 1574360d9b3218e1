"""Operator-supplied network lists (a Tor exit list, known proxies, a hosting provider's
ranges): a text file of addresses and CIDR networks, one a line, ``#`` starting a comment.

Lines may also be in the Tor project's ``exit-addresses`` form ("ExitAddress 1.2.3.4 ...")
— the first token that is an address or network is taken. Lookups bisect sorted, merged
ranges, so tens of thousands of entries cost a few microseconds a lookup. The file is
re-read when it changes (checked at most every ``check_interval`` seconds, by modification
time, size and inode, so an atomic rename is seen too). No network lookups are ever made.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable
from pathlib import Path

from imageboard.antispam.clientip import parse_ip

log = logging.getLogger(__name__)


class Ranges:
    """Merged, sorted address ranges of one IP version."""

    __slots__ = ("ends", "starts")

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in sorted(spans):
            if self.ends and start <= self.ends[-1] + 1:
                self.ends[-1] = max(self.ends[-1], end)
            else:
                self.starts.append(start)
                self.ends.append(end)

    def __contains__(self, value: int) -> bool:
        index = bisect_right(self.starts, value) - 1
        return index >= 0 and value <= self.ends[index]

    def __len__(self) -> int:
        return len(self.starts)


def parse_entries(lines: Iterable[str]) -> tuple[Ranges, Ranges, int, list[int]]:
    """(IPv4 ranges, IPv6 ranges, entries read, line numbers that were not understood)."""
    v4: list[tuple[int, int]] = []
    v6: list[tuple[int, int]] = []
    bad: list[int] = []
    for number, raw in enumerate(lines, start=1):
        line = raw.partition("#")[0].strip()
        if not line:
            continue
        network = None
        for token in line.replace(",", " ").split():
            try:
                network = ipaddress.ip_network(token, strict=False)
                break
            except ValueError:
                continue
        if network is None:
            bad.append(number)
            continue
        mapped = network.network_address.ipv4_mapped if isinstance(network, ipaddress.IPv6Network) else None
        if mapped is not None and network.prefixlen >= 96:
            network = ipaddress.IPv4Network((int(mapped), network.prefixlen - 96))
        span = (int(network.network_address), int(network.broadcast_address))
        (v4 if network.version == 4 else v6).append(span)
    return Ranges(v4), Ranges(v6), len(v4) + len(v6), bad


class NetworkList:
    """Membership of client addresses in an operator's list file."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        lines: Iterable[str] = (),
        check_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path) if path else None
        self.check_interval = check_interval
        self.clock = clock
        self._v4, self._v6, self.count, _ = parse_entries(lines)
        self._signature: tuple[int, int, int] | None = None
        self._checked = -float("inf")
        self._missing_warned = False
        if self.path is not None:
            self.refresh(force=True)

    def __contains__(self, ip: object) -> bool:
        if not isinstance(ip, str):
            return False
        self.refresh()
        address = parse_ip(ip)
        if address is None:
            return False
        return int(address) in (self._v4 if address.version == 4 else self._v6)

    def refresh(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed; True when it was (re)loaded."""
        if self.path is None:
            return False
        now = self.clock()
        if not force and now - self._checked < self.check_interval:
            return False
        self._checked = now
        try:
            stat = os.stat(self.path)
        except OSError as exc:
            if not self._missing_warned:
                log.warning("network list %s cannot be read (%s); keeping the %d entries loaded", self.path, exc,
                            self.count)
                self._missing_warned = True
            return False
        self._missing_warned = False
        signature = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if signature == self._signature:
            return False
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                v4, v6, count, bad = parse_entries(handle)
        except OSError as exc:
            log.warning("network list %s cannot be read (%s); keeping the previous list", self.path, exc)
            return False
        self._v4, self._v6, self.count, self._signature = v4, v6, count, signature
        if bad:
            log.warning(
                "network list %s: %d line(s) are not addresses or networks and were skipped (lines %s)",
                self.path, len(bad), ", ".join(map(str, bad[:10])) + (" ..." if len(bad) > 10 else ""),
            )
        log.info("network list %s: %d entries loaded", self.path, count)
        return True

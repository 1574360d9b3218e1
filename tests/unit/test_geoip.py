"""Country lookup from the bundled geoip2fast database."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imageboard
from imageboard.core.geoip import Country, country_of, preload


@pytest.fixture(scope="module", autouse=True)
def _database() -> None:
    assert preload() is True


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("8.8.8.8", Country("US", "United States")),
        ("  8.8.8.8\n", Country("US", "United States")),
        ("::ffff:8.8.8.8", Country("US", "United States")),
        ("2001:4860:4860::8888", Country("US", "United States")),
        ("81.169.145.1", Country("DE", "Germany")),  # Strato, Berlin
        ("2a01:4f8::1", Country("DE", "Germany")),  # Hetzner
    ],
)
def test_public_addresses(ip: str, expected: Country) -> None:
    assert country_of(ip) == expected


@pytest.mark.parametrize(
    "ip",
    [
        "127.0.0.1",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.1.1",  # link-local
        "100.64.0.1",  # carrier-grade NAT
        "192.0.2.1",  # documentation
        "0.0.0.0",  # noqa: S104 - an address to look up, not one to bind
        "255.255.255.255",
        "224.0.0.1",  # multicast
        "240.0.0.1",  # reserved
        "::1",
        "::",
        "fe80::1",
        "fe80::1%eth0",
        "fc00::1",  # unique local
        "2001:db8::1",  # documentation
        "ff02::1",  # multicast
        "::8.8.8.8",  # deprecated IPv4-compatible form; must not alias 8.8.8.8
        "::ffff:10.0.0.1",
    ],
)
def test_special_purpose_addresses_have_no_country(ip: str) -> None:
    assert country_of(ip) is None


@pytest.mark.parametrize(
    "ip",
    ["garbage", "", " ", "8.8.8", "8", "8.8.8.8.8", "8.8.8.8 junk", "1.2.3.256", "::g", "\0"],
)
def test_invalid_input_has_no_country(ip: str) -> None:
    # "8.8.8" and "8" are valid to inet_aton(), which geoip2fast would accept.
    assert country_of(ip) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_never_raises_for_any_string(ip: str) -> None:
    result = country_of(ip)
    assert result is None or isinstance(result, Country)


@settings(max_examples=300, deadline=None)
@given(st.ip_addresses())
def test_any_address_gives_none_or_a_two_letter_code(address: object) -> None:
    result = country_of(str(address))
    if result is not None:
        assert len(result.code) == 2
        assert result.code.isascii()
        assert result.code.isupper()
        assert result.name


def test_loads_lazily_once_silently_and_leaves_the_environment_alone() -> None:
    script = textwrap.dedent(
        """
        import os, sys, threading
        import imageboard.core.geoip as geoip

        assert "geoip2fast" not in sys.modules, "imported before first use"
        environment = dict(os.environ)
        module = geoip._import_geoip2fast()
        assert dict(os.environ) == environment, "geoip2fast changed os.environ"

        loads = []
        original = module.GeoIP2Fast
        def counting(*args, **kwargs):
            loads.append(1)
            return original(*args, **kwargs)
        module.GeoIP2Fast = counting

        barrier = threading.Barrier(8)
        results = []
        def work():
            barrier.wait()
            results.append(geoip.country_of("8.8.8.8"))
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(loads) == 1, loads
        # No thread may see "no database" while another one is still loading it.
        assert [r.code for r in results] == ["US"] * 8, results
        print("done")
        """
    )
    environment = dict(os.environ)
    environment.pop("PYTHONWARNINGS", None)
    environment["PYTHONPATH"] = str(Path(imageboard.__file__).parents[1])
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "done\n"  # geoip2fast printed nothing
    assert completed.stderr == ""

"""Broken HTTP sent over raw sockets to a running server: malformed multipart bodies,
huge, duplicated and contradictory headers, invalid UTF-8 in fields, file names, paths and
query strings. Every answer is a 4xx (or, for what the HTTP parser itself cannot read, a
closed connection) — never a 5xx — and the server keeps serving."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests import media_samples as samples
from tests.reliability.conftest import Figures
from tests.reliability.rawhttp import Answer, raw, request
from tests.reliability.services import Site, memory_kib

ENDPOINTS = ["/b/post", "/api/v1/boards/b/threads", "/b/delete", "/login", "/b/report"]
BOUNDARY = "xYzZY42"


def multipart(parts: list[bytes], *, boundary: str = BOUNDARY, close: bool = True) -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return body + (b"--" + boundary.encode() + b"--\r\n" if close else b"")


def field(name: bytes, value: bytes) -> bytes:
    return b'Content-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value


def file_part(filename: bytes, data: bytes, name: bytes = b"upfile") -> bytes:
    return (
        b'Content-Disposition: form-data; name="' + name + b'"; filename="' + filename + b'"\r\n'
        b"Content-Type: image/png\r\n\r\n" + data
    )


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
PNG = samples.png_bytes(24, 24)


COM = field(b"com", b"x")
UNBALANCED = b'Content-Disposition: form-data; name="upfile"; filename="a.png\r\n\r\n' + PNG
NESTED = (
    b'Content-Disposition: form-data; name="upfile"\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n'
    b'--inner\r\nContent-Disposition: file; filename="a.png"\r\n\r\n' + PNG + b"\r\n--inner--"
)
EMPTY_PART = b"--" + BOUNDARY.encode() + b"\r\n\r\nvalue\r\n--" + BOUNDARY.encode() + b"--\r\n"


def mp(*parts: bytes, close: bool = True) -> tuple[bytes, str]:
    return multipart(list(parts), close=close), MULTIPART


def _bodies() -> dict[str, tuple[bytes, str]]:
    """Malformed bodies and the Content-Type they are sent with."""
    long_boundary = "b" * 200
    return {
        "no-boundary-parameter": (multipart([COM]), "multipart/form-data"),
        "empty-boundary": (multipart([COM]), 'multipart/form-data; boundary=""'),
        "boundary-never-appears": (b"just some bytes\r\n" * 50, MULTIPART),
        "body-ends-mid-part": mp(COM, file_part(b"a.png", PNG[:100]), close=False),
        "part-without-headers": (EMPTY_PART, MULTIPART),
        "part-without-name": mp(b"Content-Disposition: form-data\r\n\r\nvalue"),
        "garbage-part-header": mp(b"\x00\x01\x02: \xff\xfe\r\n\r\nvalue"),
        "header-line-without-colon": mp(b"Content-Disposition form-data name=com\r\n\r\nx"),
        "invalid-utf8-field-value": mp(field(b"com", b"caf\xc3\x28 \xff\xfe\xfd"), field(b"name", b"\xed\xa0\x80")),
        "invalid-utf8-field-name": mp(field(b"co\xffm", b"x")),
        "invalid-utf8-filename": mp(COM, file_part(b"\xff\xfe\x00evil\xc0\xaf.png", PNG)),
        "nul-in-filename": mp(COM, file_part(b"a\x00.png", PNG)),
        "crlf-in-filename": mp(COM, file_part(b"a\r\nX-Injected: 1\r\n.png", PNG)),
        "quote-unbalanced-filename": mp(COM, UNBALANCED),
        "latin1-charset-declared": (multipart([field(b"com", b"\xe9t\xe9")]), MULTIPART + "; charset=latin-1"),
        "unknown-charset-declared": (multipart([COM]), MULTIPART + "; charset=no-such-charset"),
        "200-fields": mp(*[field(f"f{i}".encode(), b"v") for i in range(200)]),
        "40-files": mp(COM, *[file_part(f"{i}.png".encode(), PNG) for i in range(40)]),
        "field-of-2MB": mp(field(b"com", b"A" * (2 * 1024 * 1024))),
        "same-field-500-times": mp(*[COM] * 500),
        "huge-part-header-64KB": mp(b"X-Filler: " + b"a" * 65536 + b"\r\n" + COM),
        "boundary-200-chars": (
            multipart([COM], boundary=long_boundary),
            f"multipart/form-data; boundary={long_boundary}",
        ),
        "nested-multipart-mixed": mp(NESTED),
        "urlencoded-bad-escapes": (b"com=%zz%ff%fe%&name=%C3%28&&&=&resto=%00", "application/x-www-form-urlencoded"),
        "json-to-a-form-route": (b'{"com": "x", "resto": {"$gt": 0}}', "application/json"),
        "no-content-type": (b"com=x", ""),
    }


BODIES = _bodies()


class Tally:
    requests = 0
    statuses: dict[str, int] = {}  # noqa: RUF012  (one module's tally)

    @classmethod
    def count(cls, answer: Answer) -> None:
        cls.requests += 1
        key = str(answer.status) if answer.status is not None else "closed"
        cls.statuses[key] = cls.statuses.get(key, 0) + 1


@pytest.fixture(scope="module")
def baseline(site: Site) -> int:
    return memory_kib(site.pid)[0]


def assert_fine(site: Site, answer: Answer, *, allow_closed: bool = False) -> None:
    Tally.count(answer)
    if answer.status is None:
        assert allow_closed, f"no answer: {answer.head[:200]!r}"
    else:
        assert answer.status < 500, f"{answer.status}: {answer.body[:300]!r}"
    assert site.alive(), site.log_text()[-3000:]
    assert httpx.get(site.url + "/b/", timeout=30).status_code == 200


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("body_id", list(BODIES))
def test_malformed_body_is_a_4xx(site: Site, baseline: int, endpoint: str, body_id: str) -> None:
    body, content_type = BODIES[body_id]
    headers = [("Content-Type", content_type)] if content_type else []
    answer = raw(site, request("POST", endpoint, body, [*headers, ("Accept", "application/json")]))
    assert_fine(site, answer)
    # A body that is still a readable form with odd text may post (201/303); nothing else.
    assert answer.status is not None and (400 <= answer.status < 500 or answer.status in (201, 303)), answer.status
    if answer.status is not None and answer.status >= 400 and b"application/json" in answer.head.lower():
        assert b'"message"' in answer.body


def test_malformed_bodies_store_nothing_they_should_not(site: Site) -> None:
    """Of all the bodies above, only those that are valid forms with odd text may post;
    every post they made is readable back through the API (nothing half-written)."""
    board = httpx.get(site.url + "/api/v1/boards/b", timeout=30).json()
    for no in range(1, board["last_post_no"] + 1):
        answer = httpx.get(f"{site.url}/b/thread/{no}.json", timeout=30)
        assert answer.status_code in (200, 404)


HEADER_ATTACKS = {
    "header-value-100KB": [("X-Big", "a" * 100_000)],
    "header-name-20KB": [("X-" + "n" * 20_000, "v")],
    "1000-duplicated-headers": [("X-Dup", f"v{i}") for i in range(1000)],
    "cookie-60KB": [("Cookie", "; ".join(f"c{i}={'v' * 50}" for i in range(1100)))],
    "duplicated-cookie-session": [("Cookie", "session=a"), ("Cookie", "session=b; pwd=c")],
    "accept-language-absurd": [("Accept-Language", ",".join(["x-" + "q" * 50 + ";q=0.1"] * 500))],
    "duplicated-host": [("Host", "evil.example")],
    "x-forwarded-for-garbage": [("X-Forwarded-For", "not-an-ip, ::ffff:999.1.1.1, " + "1.2.3.4, " * 500)],
    "range-absurd": [("Range", "bytes=" + ",".join(f"{i}-{i}" for i in range(2000)))],
    "if-none-match-huge": [("If-None-Match", ", ".join(f'"{i:032x}"' for i in range(1000)))],
    "invalid-utf8-header-value": [("X-Name", "caf\xc3\x28\xff")],
    "origin-null": [("Origin", "null")],
}


@pytest.mark.parametrize("path", ["/b/", "/b/catalog.json", "/api/v1/boards/b", "/media/b/1.png"])
@pytest.mark.parametrize("attack", list(HEADER_ATTACKS))
def test_hostile_headers_on_reads(site: Site, attack: str, path: str) -> None:
    answer = raw(site, request("GET", path, headers=HEADER_ATTACKS[attack], length=False))
    # The HTTP parser may refuse a request it cannot read by closing the connection.
    assert_fine(site, answer, allow_closed=attack.startswith(("header-value", "header-name", "cookie")))


@pytest.mark.parametrize("attack", list(HEADER_ATTACKS))
def test_hostile_headers_on_posting(site: Site, attack: str) -> None:
    body = multipart([field(b"com", f"headers {attack}".encode())])
    headers = [("Content-Type", MULTIPART), ("Accept", "application/json"), *HEADER_ATTACKS[attack]]
    answer = raw(site, request("POST", "/b/post", body, headers))
    assert_fine(site, answer, allow_closed=attack.startswith(("header-value", "header-name", "cookie")))


def get(target: bytes) -> bytes:
    """A GET of ``target`` exactly as given (no encoding, no normalising)."""
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


FRAMING = {
    "content-length-not-a-number": request("POST", "/b/post", b"com=x", [("Content-Length", "12abc")], length=False),
    "content-length-negative": request("POST", "/b/post", b"com=x", [("Content-Length", "-5")], length=False),
    "two-different-content-lengths": request(
        "POST", "/b/post", b"com=x", [("Content-Length", "5"), ("Content-Length", "50")], length=False
    ),
    "content-length-and-chunked": request(
        "POST", "/b/post", b"5\r\ncom=x\r\n0\r\n\r\n", [("Content-Length", "5"), ("Transfer-Encoding", "chunked")],
        length=False,
    ),
    "chunked-with-bad-sizes": request(
        "POST", "/b/post", b"zz\r\ncom=x\r\nffffffffffffffffff\r\n", [("Transfer-Encoding", "chunked")], length=False
    ),
    "content-length-over-the-limit": request(
        "POST", "/b/post", b"com=x", [("Content-Length", str(10**12)), ("Content-Type", MULTIPART)], length=False
    ),
    "body-shorter-than-announced": request(
        "POST", "/b/post", multipart([COM]), [("Content-Length", "100000"), ("Content-Type", MULTIPART)], length=False
    ),
    "request-line-garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,
    "http-0.9": b"GET /\r\n\r\n",
    "absurd-method": request("FROBNICATE", "/b/"),
    "url-100KB": request("GET", "/b/thread/1?" + "a" * 100_000),
    "path-invalid-utf8": get(b"/b/thread/%ff%fe%c0%af"),
    "path-raw-invalid-utf8": get(b"/\xff\xfe/\xc0\xaf"),
    "query-invalid-utf8": get(b"/api/v1/boards?cursor=%ff%fe&limit=%c0"),
    "path-traversal": get(b"/static/../../../../etc/passwd"),
    "media-traversal": get(b"/media/b/..%2f..%2f..%2fetc%2fpasswd"),
    "nul-in-path": get(b"/b/%00/catalog"),
    "nul-in-header": b"GET /b/ HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n",
    "header-folding": b"GET /b/ HTTP/1.1\r\nHost: x\r\nX-A: a\r\n  folded\r\nConnection: close\r\n\r\n",
}  # fmt: skip


@pytest.mark.parametrize("attack", list(FRAMING))
def test_broken_framing(site: Site, attack: str) -> None:
    # A body shorter than announced would keep the server waiting: hang up after sending.
    answer = raw(site, FRAMING[attack], half_close=attack == "body-shorter-than-announced")
    assert_fine(site, answer, allow_closed=True)
    if attack in ("path-traversal", "media-traversal"):
        assert b"root:" not in answer.body


def test_client_that_hangs_up_mid_upload(site: Site) -> None:
    """Uploads abandoned half-way (the connection drops) leave no post and no temp file."""
    before = httpx.get(site.url + "/api/v1/boards/b", timeout=30).json()["last_post_no"]
    body = multipart([field(b"com", b"abandoned"), file_part(b"big.png", samples.png_bytes(900, 900))])
    for cut in (0.1, 0.5, 0.9):
        port = int(site.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            head = request("POST", "/b/post", b"", [("Content-Type", MULTIPART)], length=False)
            head = head.replace(b"\r\n\r\n", f"\r\nContent-Length: {len(body)}\r\n\r\n".encode(), 1)
            sock.sendall(head + body[: int(len(body) * cut)])
            time.sleep(0.3)
        Tally.requests += 1
    time.sleep(1.0)
    assert httpx.get(site.url + "/api/v1/boards/b", timeout=30).json()["last_post_no"] == before
    assert [p for p in (site.data_dir / "tmp").rglob("*") if p.is_file()] == []
    assert site.alive()


def test_server_survived_with_bounded_memory(site: Site, baseline: int, figures: Figures) -> None:
    rss = memory_kib(site.pid)[0]
    figures.record(
        "malformed_requests",
        requests=Tally.requests,
        answers=dict(sorted(Tally.statuses.items())),
        rss_growth_mb=round((rss - baseline) / 1024, 1),
    )
    assert not any(key.startswith("5") for key in Tally.statuses), Tally.statuses
    assert (rss - baseline) / 1024 < 200
    assert site.alive()

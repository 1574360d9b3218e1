"""Web security of the running site: the headers on every kind of answer, HSTS over real TLS,
CSRF on every state-changing route, and session fixation.

* Content-Security-Policy without any inline or eval script source, ``frame-ancestors
  'none'``, ``X-Content-Type-Options: nosniff``, a ``Referrer-Policy`` — on pages, JSON,
  media, static files, redirects and errors; no inline script, handler or style in any page.
* HSTS on HTTPS only: the same application served by uvicorn over TLS (a certificate made
  for the test by openssl) sends it, and marks the staff cookies ``Secure``.
* Every POST/PUT/PATCH/DELETE route of the application (read from the app itself, so a new
  route is covered the day it is added) refuses a cross-site browser request; every staff
  route refuses a signed-in request without the session's CSRF token, or with another
  session's; and every staff form on every staff page carries the token.
* A session identifier planted before sign-in is never adopted, the second-factor step and
  sign-in hand out fresh identifiers, and signing out kills the session on the server.
"""

from __future__ import annotations

import re
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from starlette.routing import Mount, Route

from imageboard.app import create_app
from imageboard.config import Settings
from tests import media_samples as samples
from tests.e2e.conftest import free_port
from tests.reliability.conftest import Figures
from tests.reliability.rawhttp import raw, request
from tests.reliability.services import JSON, Site, site_env, start_site, stop_site, wait_for
from tests.reliability.web import STAFF_PASSWORD, Staff, hidden_value, inspect_html, sign_in_site_staff

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
ALLOWED_REFERRER_POLICIES = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Site, Staff]]:
    site = start_site(tmp_path_factory.mktemp("websec") / "site", {"IMAGEBOARD_ANTISPAM": "off"})
    try:
        staff = sign_in_site_staff(site, "secadmin")
        answer = httpx.post(
            site.url + "/b/post",
            data={"sub": "security", "com": "a thread"},
            files={"upfile": ("a.png", samples.png_bytes(50, 50), "image/png")},
            headers=JSON,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        yield site, staff
    finally:
        stop_site(site)


def csp_directives(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def check_headers(path: str, answer: httpx.Response, *, https: bool = False) -> None:
    headers = answer.headers
    policy = csp_directives(headers.get("content-security-policy", ""))
    assert policy, f"{path}: no Content-Security-Policy"
    scripts = policy.get("script-src", policy.get("default-src"))
    assert scripts == ["'self'"], f"{path}: script-src {scripts}"
    assert policy.get("object-src") == ["'none'"] and policy.get("base-uri") == ["'none'"], path
    assert policy.get("frame-ancestors") == ["'none'"], path
    assert "'unsafe-inline'" not in policy.get("style-src", []), path
    assert headers.get("x-content-type-options") == "nosniff", path
    assert headers.get("referrer-policy") in ALLOWED_REFERRER_POLICIES, path
    assert headers.get("x-frame-options", "").upper() == "DENY", path
    if https:
        hsts = headers.get("strict-transport-security", "")
        assert re.search(r"max-age=(\d+)", hsts) and int(re.search(r"max-age=(\d+)", hsts).group(1)) >= 15_552_000, hsts  # type: ignore[union-attr]
    else:
        assert "strict-transport-security" not in headers, f"{path}: HSTS over plain HTTP"


def sample_paths(site: Site) -> dict[str, int]:
    """One address of every kind of answer, with the status it gives."""
    thread = httpx.get(site.url + "/b/thread/1.json", timeout=30).json()["posts"][0]
    return {
        "/": 200, "/b/": 200, "/b/thread/1": 200, "/b/catalog": 200, "/b": 301, "/b/thread/1.json": 200,
        "/api/v1/boards/b": 200, "/api/v1/openapi.json": 200, "/b/index.rss": 200,
        f"/media/b/{thread['tim']}{thread['ext']}": 200, f"/media/b/{thread['tim']}s.jpg": 200,
        "/static/css/site.css": 200, "/nope/": 404, "/api/v1/boards/nope": 404, "/media/b/1.png": 404,
        "/staff": 401, "/login": 200,
    }  # fmt: skip


def test_security_headers_on_every_kind_of_answer(secured: tuple[Site, Staff]) -> None:
    site, _ = secured
    for path, status in sample_paths(site).items():
        answer = httpx.get(site.url + path, timeout=30)
        assert answer.status_code == status, f"{path}: {answer.status_code}"
        check_headers(path, answer)
        if answer.headers.get("content-type", "").startswith("text/html"):
            assert inspect_html(answer.text).problems == [], (path, inspect_html(answer.text).problems)
    refused = raw(site, request("POST", "/b/post", b"x" * 100, [("Content-Length", str(10**9))], length=False))
    assert refused.status == 413
    head = refused.head.decode("latin-1").lower()
    assert "content-security-policy: " in head and "x-content-type-options: nosniff" in head


# --------------------------------------------------------------------------- HTTPS


@pytest.fixture(scope="module")
def tls_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """The same application under uvicorn with TLS (as behind an edge that passes TLS on)."""
    root = tmp_path_factory.mktemp("tls")
    key, cert = root / "key.pem", root / "cert.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    port = free_port()
    env = site_env(root / "site", port, {"IMAGEBOARD_ANTISPAM": "off"})
    init = subprocess.run(
        [str(Path(sys.executable).with_name("imageboard")), "init"],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    log = (root / "tls.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "imageboard.asgi:application", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--ssl-keyfile", str(key), "--ssl-certfile", str(cert), "--log-level", "warning"],
        env=env, stdout=log, stderr=log,
    )  # fmt: skip
    url = f"https://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/", verify=ssl.create_default_context(cafile=cert), timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(up, within=40, what="the TLS server")
        yield url, str(cert)
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


def test_hsts_and_secure_cookies_over_https(tls_site: tuple[str, str]) -> None:
    url, cert = tls_site
    with httpx.Client(base_url=url, verify=ssl.create_default_context(cafile=cert), timeout=30) as client:
        for path in ("/", "/b/", "/api/v1/boards", "/nope/", "/static/css/site.css"):
            answer = client.get(path)
            check_headers(path, answer, https=True)
        answer = client.post("/b/post", data={"sub": "tls", "com": "over tls"})
        assert answer.status_code == 303
        cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("pwd="))
        assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
        answer = client.post("/login", data={"username": "nobody", "password": "wrong password"})
        check_headers("/login", answer, https=True)


# --------------------------------------------------------------------------- CSRF


def unsafe_routes(data_dir: Path) -> list[tuple[str, str]]:
    """Every state-changing route of the application, as (method, concrete path)."""
    app = create_app(Settings(data_dir=data_dir, secret_key="x", antispam="off"))
    found: list[tuple[str, str]] = []

    def walk(routes: list[object], prefix: str) -> None:
        for route in routes:
            if isinstance(route, Mount):
                walk(list(route.routes), prefix + route.path)
            elif hasattr(route, "original_router"):  # a router included with include_router
                context = getattr(route, "include_context", None)
                walk(list(route.original_router.routes), prefix + (getattr(context, "prefix", "") or ""))
            elif isinstance(route, Route) or (hasattr(route, "methods") and hasattr(route, "path")):
                for method in sorted((getattr(route, "methods", None) or set()) & UNSAFE):
                    found.append((method, prefix + route.path))  # type: ignore[attr-defined]

    walk(list(app.routes), "")
    values = {
        "board": "b", "no": "1", "action": "delete", "report_id": "1", "appeal_id": "1", "ban_id": "1",
        "filter_id": "1", "name": "1.png",
    }  # fmt: skip
    concrete = []
    for method, path in found:
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "1"), path)
        concrete.append((method, path))
    return sorted(set(concrete))


def test_every_state_changing_route_refuses_cross_site_requests(secured: tuple[Site, Staff], figures: Figures) -> None:
    site, staff = secured
    routes = unsafe_routes(site.data_dir.parent / "routes")
    assert len(routes) >= 25, routes  # the post form, the API, the staff forms, sign-in ...
    before = httpx.get(site.url + "/api/v1/boards/b", timeout=30).json()["last_post_no"]
    for method, path in routes:
        for forged in ({"origin": "http://evil.example"}, {"sec-fetch-site": "cross-site"}, {"origin": "null"}):
            answer = staff.client.request(
                method, path, data={"com": "forged", "csrf_token": staff.csrf}, headers={**forged, **JSON}
            )
            assert answer.status_code == 403, f"{method} {path} {forged}: {answer.status_code} {answer.text[:200]}"
            assert answer.json()["error"]["code"] == "cross_site"
    assert httpx.get(site.url + "/api/v1/boards/b", timeout=30).json()["last_post_no"] == before
    figures.record("web_security", state_changing_routes=len(routes), cross_site_requests_refused=3 * len(routes))


STAFF_PREFIXES = ("/staff/", "/logout", "/account/")


def test_every_staff_route_needs_the_session_token(secured: tuple[Site, Staff]) -> None:
    site, staff = secured
    other = sign_in_site_staff(site, "secadmin2")
    assert other.csrf != staff.csrf
    staff_routes = [(m, p) for m, p in unsafe_routes(site.data_dir.parent / "routes") if p.startswith(STAFF_PREFIXES)]
    assert len(staff_routes) >= 15, staff_routes
    for method, path in staff_routes:
        for token in (None, "", "forged-token", other.csrf):
            data = {"reason": "csrf", "uri": "csrfboard", "title": "x"} | (
                {} if token is None else {"csrf_token": token}
            )
            answer = staff.client.request(method, path, data=data, headers=JSON)
            assert answer.status_code == 403, (
                f"{method} {path} token={token!r}: {answer.status_code} {answer.text[:200]}"
            )
    # Nothing they asked for happened: no board was made, the staff is still signed in.
    assert httpx.get(site.url + "/api/v1/boards/csrfboard", timeout=30).status_code == 404
    assert staff.client.get("/staff").status_code == 200


def test_every_staff_form_carries_the_token(secured: tuple[Site, Staff]) -> None:
    _, staff = secured
    pages = ["/staff", "/staff/bans", "/staff/filters", "/staff/board/b", "/staff/site", "/staff/boards/new",
             "/staff/post/b/1", "/account", "/account/2fa", "/b/", "/b/thread/1"]  # fmt: skip
    forms = 0
    for page in pages:
        text = staff.client.get(page).text
        for form in re.finditer(r"<form\b[^>]*>.*?</form>", text, re.DOTALL):
            tag = form.group(0)
            method = re.search(r'method="(\w+)"', tag)
            action = re.search(r'action="([^"]*)"', tag)
            if not method or method.group(1).lower() != "post":
                continue
            target = action.group(1) if action else page
            if target.startswith(STAFF_PREFIXES) or target in ("/logout", "/logout/everywhere"):
                forms += 1
                assert f'value="{staff.csrf}"' in tag and 'name="csrf_token"' in tag, f"{page}: form to {target}"
    assert forms >= 10


# --------------------------------------------------------------------------- sessions


def issued(answer: httpx.Response, name: str) -> str | None:
    """The value a response sets for cookie ``name`` ("" when it deletes it, None if untouched)."""
    for header in answer.headers.get_list("set-cookie"):
        key, _, rest = header.partition("=")
        if key.strip() == name:
            value = rest.split(";", 1)[0].strip().strip('"')
            return "" if "max-age=0" in header.lower() or "expires=thu, 01 jan 1970" in header.lower() else value
    return None


def test_a_planted_session_is_never_adopted(secured: tuple[Site, Staff]) -> None:
    site, _ = secured
    made = site.cli("create-user", "fixated", input_text=STAFF_PASSWORD + "\n")  # board-level staff: no 2FA
    assert made.returncode == 0, made.stderr
    planted = "attacker-chosen-session-id-0123456789abcdef"
    url = site.url
    answer = httpx.post(
        url + "/login",
        data={"username": "fixated", "password": STAFF_PASSWORD},
        cookies={"session": planted},
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    session = issued(answer, "session")
    assert session and session != planted
    cookie = next(h for h in answer.headers.get_list("set-cookie") if h.startswith("session="))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert httpx.get(url + "/account", cookies={"session": planted}, timeout=30).status_code == 401
    account = httpx.get(url + "/account", cookies={"session": session}, timeout=30)
    assert account.status_code == 200
    # Signing out ends the session on the server, not just in this browser.
    token = hidden_value(account.text, "csrf_token")
    out = httpx.post(url + "/logout", data={"csrf_token": token}, cookies={"session": session}, timeout=30)
    assert out.status_code == 303 and issued(out, "session") == ""
    assert httpx.get(url + "/account", cookies={"session": session}, timeout=30).status_code == 401


def test_every_sign_in_step_issues_a_fresh_identifier(secured: tuple[Site, Staff]) -> None:
    """Site staff: password (an enrolment session), second factor set up, password again (a
    pending token), code (the session). A planted cookie survives none of it, and no step's
    identifier is the next one's."""
    site, _ = secured
    url = site.url
    made = site.cli("create-user", "twostep", "--role", "admin", input_text=STAFF_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    planted = "attacker-chosen-session-id-fedcba9876543210"
    credentials = {"username": "twostep", "password": STAFF_PASSWORD}
    answer = httpx.post(url + "/login", data=credentials, cookies={"session": planted, "signin": planted}, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"] == "/account/2fa"
    enrolling = issued(answer, "session")
    assert enrolling and enrolling != planted
    page = httpx.get(url + "/account/2fa", cookies={"session": enrolling}, timeout=30).text
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert secret
    totp = pyotp.TOTP(secret.group(1))
    answer = httpx.post(url + "/account/2fa", cookies={"session": enrolling}, timeout=30, data={
        "csrf_token": hidden_value(page, "csrf_token"), "totp_secret": secret.group(1),
        "signature": hidden_value(page, "signature"), "code": totp.now(),
    })  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/login"
    # Setting up the second factor signed the enrolment session out, on the server too.
    assert httpx.get(url + "/account", cookies={"session": enrolling}, timeout=30).status_code == 401
    answer = httpx.post(url + "/login", data=credentials, cookies={"session": planted, "signin": planted}, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"] == "/login/code"
    pending = issued(answer, "signin")
    assert pending and pending not in (planted, enrolling)
    # Until the code is given, neither the pending token nor the planted one is a session.
    for candidate in (pending, planted):
        assert httpx.get(url + "/staff", cookies={"session": candidate}, timeout=30).status_code == 401
    # A planted pending token does not stand in for the real one.
    code = totp.at(int(time.time()) + 30)
    forged = httpx.post(url + "/login/code", data={"code": code}, cookies={"signin": planted}, timeout=30)
    assert forged.status_code in (400, 401, 403)
    answer = httpx.post(url + "/login/code", data={"code": code}, cookies={"signin": pending}, timeout=30)
    assert answer.status_code == 303 and answer.headers["location"] == "/staff", answer.text
    final = issued(answer, "session")
    assert final and final not in (planted, enrolling, pending)
    assert httpx.get(url + "/staff", cookies={"session": final}, timeout=30).status_code == 200

"""Helpers for the web-security tests: staff sign-in over real HTTP (password, two-factor
enrolment, code), and an HTML inspector that lists what a page would make a browser do."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx
import pyotp

from tests.reliability.services import Site

STAFF_PASSWORD = "a long and secret staff password"


@dataclass
class Staff:
    client: httpx.Client
    username: str
    csrf: str
    totp: pyotp.TOTP

    def form(self, path: str, data: dict[str, str]) -> httpx.Response:
        """A staff form as the browser sends it, with the session's CSRF token."""
        return self.client.post(path, data={**data, "csrf_token": self.csrf})


def hidden_value(page: str, name: str) -> str:
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', page)
    assert found, f"no hidden field {name!r} on the page"
    return found.group(1)


def sign_in_site_staff(site: Site, username: str, role: str = "admin") -> Staff:
    """Create site staff with the CLI, then sign in as a browser would: password, enrol a
    second factor (site staff must), sign in again with a code."""
    made = site.cli("create-user", username, "--role", role, input_text=STAFF_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    client = httpx.Client(base_url=site.url, timeout=30)
    answer = client.post("/login", data={"username": username, "password": STAFF_PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/account/2fa", answer.text
    enrol = client.get("/account/2fa")
    assert enrol.status_code == 200
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', enrol.text)
    assert secret, "the enrolment page shows no secret"
    totp = pyotp.TOTP(secret.group(1))
    answer = client.post(
        "/account/2fa",
        data={
            "csrf_token": hidden_value(enrol.text, "csrf_token"),
            "totp_secret": secret.group(1),
            "signature": hidden_value(enrol.text, "signature"),
            "code": totp.now(),
        },
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/login", answer.text
    answer = client.post("/login", data={"username": username, "password": STAFF_PASSWORD})
    assert answer.status_code == 303 and answer.headers["location"] == "/login/code", answer.text
    # The enrolment used this 30-second step's code; a code is good once: use the next one.
    answer = client.post("/login/code", data={"code": totp.at(int(time.time()) + 30)})
    assert answer.status_code == 303 and answer.headers["location"] == "/staff", answer.text
    dashboard = client.get("/staff")
    assert dashboard.status_code == 200
    return Staff(client, username, hidden_value(dashboard.text, "csrf_token"), totp)


# --------------------------------------------------------------------------- inspecting HTML

URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "data", "xlink:href", "srcset", "background"}
FORBIDDEN_TAGS = {"iframe", "frame", "object", "embed", "applet", "base", "svg", "math", "style", "xmp", "plaintext"}
DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:text/html", "data:image/svg")


@dataclass
class Findings:
    tags: list[tuple[str, dict[str, str | None]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


class _Inspector(HTMLParser):
    def __init__(self, findings: Findings, origins: tuple[str, ...]) -> None:
        super().__init__(convert_charrefs=True)
        self.findings = findings
        self.local = ("/", "data:image/png", "data:image/gif", *origins)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.findings.tags.append((tag, values))
        problems = self.findings.problems
        for name, value in attrs:
            if name.startswith("on"):
                problems.append(f"<{tag} {name}=...>: an inline event handler")
            if name == "style":
                problems.append(f"<{tag} style=...>: an inline style")
            if name in URL_ATTRIBUTES and value is not None:
                plain = re.sub(r"[\x00-\x20]", "", value).lower()
                if plain.startswith(DANGEROUS_SCHEMES):
                    problems.append(f"<{tag} {name}={value[:60]!r}>: a script URL")
        if tag in FORBIDDEN_TAGS:
            problems.append(f"<{tag}>: a tag the site never emits")
        if tag == "script" and not (values.get("src") or "").startswith("/static/"):
            problems.append(f"<script src={values.get('src')!r}>: an inline or foreign script")
        if tag == "meta" and (values.get("http-equiv") or "").lower() in (
            "refresh",
            "set-cookie",
            "content-security-policy",
        ):
            problems.append(f"<meta http-equiv={values.get('http-equiv')!r}>")
        if tag in ("img", "video", "audio", "source") and values.get("src"):
            src = values["src"] or ""
            if not src.startswith(self.local) or src.startswith("//"):
                problems.append(f"<{tag} src={src[:60]!r}>: media from elsewhere")

    handle_startendtag = handle_starttag


def inspect_html(text: str, *, origins: tuple[str, ...] = ()) -> Findings:
    """What ``text`` would make a browser do that the site never means to; ``origins`` are
    absolute URL prefixes of the site itself (feeds use absolute links)."""
    findings = Findings()
    parser = _Inspector(findings, origins)
    parser.feed(text)
    parser.close()
    return findings

"""Helpers for the deployment tests: render the NGINX templates, run nginx and Prometheus
(Debian's packages) on free ports of 127.0.0.1 with everything in temporary directories,
and stop them again.

These tools must be installed (``make test`` installs them as root when missing); when they
are not, the tests fail rather than skip.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import RunningServer, free_port, start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX_DIR = DEPLOY / "nginx"
STATIC_DIR = ROOT / "src" / "imageboard" / "web" / "static"
TEMPLATE_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

__all__ = [
    "DEPLOY",
    "ROOT",
    "Nginx",
    "RunningServer",
    "free_port",
    "render_template",
    "require_tool",
    "start_nginx",
    "start_server",
    "stop_process",
    "stop_server",
]


def require_tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin")
    if path is None:
        pytest.fail(f"{name} is not installed: run 'make test' as root (apt-get install nginx prometheus)")
    return path


def render_template(text: str, values: Mapping[str, str]) -> str:
    """What the nginx image's entrypoint does with envsubst: replace the ${VARIABLES} that are
    set, leave everything else (nginx's own $variables) alone. A variable the template uses
    but the environment lacks is an error here, so a test cannot pass on a half-rendered file."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template variable {name} is not set")
        return values[name]

    return TEMPLATE_VARIABLE.sub(replace, text)


@dataclass
class Nginx:
    url: str
    prefix: Path
    process: subprocess.Popen[bytes]
    https_url: str | None = None

    def error_log(self) -> str:
        return (self.prefix / "logs" / "error.log").read_text(errors="replace")

    def access_log_lines(self, wanted: Callable[[str], bool]) -> list[str]:
        """The access log's lines once one of them is ``wanted``: the shipped config buffers the
        log in each worker process (written within a second)."""
        path = self.prefix / "logs" / "access.log"
        deadline = time.monotonic() + 5
        while True:
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            if any(wanted(line) for line in lines) or time.monotonic() > deadline:
                return lines
            time.sleep(0.1)


def start_nginx(
    prefix: Path,
    *,
    web: str,
    realtime: str | None = None,
    media: str | None = None,
    max_body_bytes: int = 32 * 1024 * 1024,
    trusted_proxy: str = "192.0.2.1/32",
    tls: tuple[Path, Path] | None = None,
) -> Nginx:
    """Lay out the repository's NGINX configuration like the nginx image does and start it."""
    nginx = require_tool("nginx")
    conf = prefix / "conf"
    (conf / "conf.d").mkdir(parents=True)
    shutil.copy(NGINX_DIR / "nginx.conf", conf / "nginx.conf")
    shutil.copy("/etc/nginx/mime.types", conf / "mime.types")
    shutil.copytree(NGINX_DIR / "snippets", conf / "snippets")
    (prefix / "state").mkdir()
    (prefix / "logs").mkdir()
    port = free_port()
    values = {
        "IMAGEBOARD_WEB_UPSTREAM": web,
        "IMAGEBOARD_REALTIME_UPSTREAM": realtime or web,
        "IMAGEBOARD_MEDIA_UPSTREAM": media or web,
        "IMAGEBOARD_STATIC_ROOT": str(STATIC_DIR),
        "IMAGEBOARD_MAX_BODY_BYTES": str(max_body_bytes),
        "NGINX_STATE_DIR": str(prefix / "state"),
        "NGINX_HTTP_LISTEN": f"127.0.0.1:{port}",
        "NGINX_TRUSTED_PROXY": trusted_proxy,
    }
    templates = sorted((NGINX_DIR / "templates").glob("*.template"))
    https_url = None
    if tls is not None:
        https_port = free_port()
        values |= {"NGINX_HTTPS_LISTEN": f"127.0.0.1:{https_port}", "NGINX_TLS_CERT": str(tls[0]),
                   "NGINX_TLS_KEY": str(tls[1])}
        templates += sorted((NGINX_DIR / "tls").glob("*.template"))
        https_url = f"https://127.0.0.1:{https_port}"
    for template in templates:
        target = conf / "conf.d" / template.name.removesuffix(".template")
        target.write_text(render_template(template.read_text(), values))
    # Access and error logs to files of this run (the shipped config logs to stdout/stderr).
    for path in (conf / "conf.d").glob("*.conf"):
        path.write_text(path.read_text().replace("access_log /dev/stdout", f"access_log {prefix}/logs/access.log"))
    globals_ = f"daemon off; pid {prefix}/nginx.pid; user root; error_log {prefix}/logs/error.log info;"
    check = subprocess.run(
        [nginx, "-t", "-p", str(prefix), "-c", str(conf / "nginx.conf"), "-g", globals_],
        capture_output=True, text=True, timeout=30, check=False,
    )
    assert check.returncode == 0, f"nginx -t failed:\n{check.stderr}"
    process = subprocess.Popen(
        [nginx, "-p", str(prefix), "-c", str(conf / "nginx.conf"), "-g", globals_],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(url + "/nginx-health", timeout=1).status_code == 200:
                return Nginx(url, prefix, process, https_url)
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_process(process)
    raise RuntimeError("nginx did not answer within 15 s")


def stop_process(process: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The real site (``imageboard serve``), one process, for the edge and Prometheus tests."""
    running = start_server(tmp_path_factory.mktemp("site"), {"IMAGEBOARD_LOG_FORMAT": "json"})
    yield running
    stop_server(running)


"""Real processes the reliability tests start, break and bring back: the site itself, and
private PostgreSQL, Redis and NATS servers that no other test shares.

The site's log goes to a file (a pipe nobody reads would fill up and freeze the server).
Every helper here stops only what it started, by process id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.e2e.conftest import CLI, RunningServer, free_port

POSTGRES_ADMIN_DSN = os.environ.get("IMAGEBOARD_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
JSON = {"accept": "application/json"}


# --------------------------------------------------------------------------- the site


@dataclass
class Site:
    """A running ``imageboard serve`` (one process: the ``all`` role, one worker)."""

    server: RunningServer
    log: Path
    restarts: int = 0

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def pid(self) -> int:
        return self.server.process.pid

    @property
    def env(self) -> dict[str, str]:
        return self.server.env

    def alive(self) -> bool:
        return self.server.process.poll() is None

    def cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return self.server.cli(*args, input_text=input_text)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kwargs.pop("timeout", 30), **kwargs)


def site_env(data_dir: Path, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # Settings of the developer's shell must not leak into the sites under test.
        if not key.startswith("IMAGEBOARD_") or key.startswith("IMAGEBOARD_TEST_")
    }
    env.update(
        {
            "IMAGEBOARD_DATA_DIR": str(data_dir),
            "IMAGEBOARD_PORT": str(port),
            "IMAGEBOARD_ENVIRONMENT": "development",
            "IMAGEBOARD_ANTISPAM_WARMUP_SECONDS": "0",
            "IMAGEBOARD_LOG_FORMAT": "console",
            "IMAGEBOARD_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra or {})
    return env


def start_site(
    data_dir: Path, extra_env: dict[str, str] | None = None, *, init: bool = True, port: int | None = None
) -> Site:
    """``imageboard init`` (unless ``init`` is false) and ``imageboard serve``; returns once
    the home page answers. The log is ``<data_dir>.log`` next to the data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = site_env(data_dir, port or free_port(), extra_env)
    if init:
        done = subprocess.run([CLI, "init"], env=env, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"imageboard init failed: {done.stderr}")
    log = data_dir.with_name(data_dir.name + ".log")
    with log.open("ab") as sink:
        process = subprocess.Popen([CLI, "serve"], env=env, stdout=sink, stderr=sink, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{env['IMAGEBOARD_PORT']}"
    server = RunningServer(url, data_dir, process, env)
    site = Site(server, log)
    wait_until_up(site, timeout=40)
    return site


def wait_until_up(site: Site, *, timeout: float) -> float:
    """Seconds until ``/`` answers 200; raises when the process dies or time runs out."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if not site.alive():
            raise RuntimeError(f"the server exited:\n{site.log_text()[-4000:]}")
        try:
            if httpx.get(site.url + "/", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {timeout} s:\n{site.log_text()[-4000:]}")


def stop_site(site: Site) -> None:
    if not site.alive():
        return
    site.server.process.send_signal(signal.SIGTERM)
    try:
        site.server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        site.server.process.kill()
        site.server.process.wait()


def kill_site(site: Site) -> None:
    """SIGKILL: no shutdown code runs, as when the machine loses power or the OOM killer strikes."""
    site.server.process.send_signal(signal.SIGKILL)
    site.server.process.wait(timeout=10)


def restart_site(site: Site) -> Site:
    """Start the same site again (same data directory, port and settings)."""
    port = int(site.env["IMAGEBOARD_PORT"])
    extra = {k: v for k, v in site.env.items() if k.startswith("IMAGEBOARD_")}
    again = start_site(site.data_dir, extra, init=False, port=port)
    again.restarts = site.restarts + 1
    return again


# --------------------------------------------------------------------------- measurements


def memory_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB: resident memory now and at its peak."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values["VmRSS"], values["VmHWM"]


def files_under(root: Path) -> set[str]:
    """Every file below ``root`` (hidden ones too), as paths relative to it."""
    if not root.exists():
        return set()
    return {str(path.relative_to(root)) for path in root.rglob("*") if path.is_file() or path.is_symlink()}


def wait_for(check: Callable[[], bool], *, within: float, every: float = 0.1, what: str = "condition") -> float:
    """Seconds until ``check()`` holds; AssertionError after ``within`` seconds."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(f"{what} not reached within {within} s")
        time.sleep(every)


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --------------------------------------------------------------------------- databases


def run_async(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, inside or outside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def sqlite_rows(data_dir: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Read the site's SQLite database (read-only; WAL lets us read while it writes)."""
    path = data_dir / "imageboard.sqlite3"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        return list(connection.execute(sql, params).fetchall())
    finally:
        connection.close()


def postgres_rows(dsn: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    async def query() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            return [tuple(row) for row in await connection.fetch(sql, *params)]
        finally:
            await connection.close()

    return list(run_async(query()))


@dataclass
class Rows:
    """SQL against the site's database, whichever it is (``$1`` placeholders are rewritten
    to ``?`` for SQLite)."""

    data_dir: Path
    postgres_dsn: str | None = None

    def __call__(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        if self.postgres_dsn:
            return postgres_rows(self.postgres_dsn, sql, *params)
        for number in range(len(params), 0, -1):
            sql = sql.replace(f"${number}", "?")
        return sqlite_rows(self.data_dir, sql, *params)


@contextlib.contextmanager
def fresh_postgres_database(admin_dsn: str = POSTGRES_ADMIN_DSN) -> Iterator[tuple[str, str]]:
    """A new, empty database on a PostgreSQL server; yields (SQLAlchemy URL, asyncpg DSN)
    and drops it afterwards."""
    name = f"imageboard_rel_{os.getpid()}_{int(time.time() * 1000) % 10_000_000}"
    admin(admin_dsn, f'CREATE DATABASE "{name}"')
    base = admin_dsn.rsplit("/", 1)[0]
    dsn = f"{base}/{name}"
    try:
        yield dsn.replace("postgresql://", "postgresql+asyncpg://", 1), dsn
    finally:
        with contextlib.suppress(Exception):
            admin(admin_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def admin(dsn: str, sql: str) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(dsn, timeout=10)
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    run_async(run())


def _postgres_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return str(found[-1])


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free port, owned by this test alone: it may be
    stopped and started at will. Runs as the ``postgres`` user when we are root."""

    root: Path
    port: int = field(default_factory=free_port)
    process_log: Path | None = None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, *command: str) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=False)

    def create(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.sockets, "postgres", "postgres")
        done = self._as_owner(
            _postgres_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"
        )
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        done = self._as_owner(
            _postgres_bin("pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
            "-w", "-t", "60", "start",
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl start failed: {done.stderr}{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        done = self._as_owner(_postgres_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
        if done.returncode != 0 and "is the server running" not in done.stderr:
            raise RuntimeError(f"pg_ctl stop failed: {done.stderr}")

    def log_tail(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def private_postgres_root() -> Path:
    """A directory the postgres user can enter (pytest's tmp dirs are private to root)."""
    return Path(tempfile.mkdtemp(prefix="ib-reliability-pg-", dir="/tmp"))


# --------------------------------------------------------------------------- brokers


@dataclass
class OwnRedis:
    """A redis-server of our own on a free port, without persistence."""

    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open(self.port), within=10, what=f"redis on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class OwnNats:
    """A nats-server of our own with JetStream, its store in ``store`` (kept across restarts)."""

    store: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.store.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(self.store)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        wait_for(lambda: port_open(self.port), within=10, what=f"nats on port {self.port}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

"""Machinery shared by the benchmarks.

Everything here deals in whole processes: application servers (``imageboard serve``, or
another ASGI server on the same application), NGINX instances, the ``wrk`` load generator
and the raw-driver baselines each run as their own process, on free loopback ports, with
their own data directories under the run directory. Results are repeated in rounds and
summarised as the median with the min–max range; ratios are taken round by round against a
baseline measured in the same round, then summarised the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
IMAGEBOARD = BIN / "imageboard"
PYTHON = sys.executable
STATIC_ROOT = ROOT / "src" / "imageboard" / "web" / "static"
SHIPPED_NGINX = ROOT / "deploy" / "nginx"
# The PostgreSQL server the benchmarks create their throw-away databases on (trust auth).
PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
ANTISPAM_ENV = {"IMAGEBOARD_ANTISPAM": "off"}


# --- statistics ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """Median of repeated trials with their range."""

    median: float
    lo: float
    hi: float
    n: int

    def fmt(self, digits: int = 0, unit: str = "") -> str:
        if self.n == 0:
            return "–"
        spec = f"{{:,.{digits}f}}"
        if self.n == 1:
            return spec.format(self.median) + unit
        return f"{spec.format(self.median)}{unit} ({spec.format(self.lo)}–{spec.format(self.hi)})"

    def pct(self) -> str:
        if self.n == 0:
            return "–"
        if self.n == 1:
            return f"{self.median * 100:.0f} %"
        return f"{self.median * 100:.0f} % ({self.lo * 100:.0f}–{self.hi * 100:.0f})"


def summarize(values: Sequence[float]) -> Summary:
    clean = [v for v in values if v == v]  # drop NaN
    if not clean:
        return Summary(float("nan"), float("nan"), float("nan"), 0)
    return Summary(statistics.median(clean), min(clean), max(clean), len(clean))


def ratios(subject: Sequence[float], baseline: Sequence[float]) -> list[float]:
    """Round-by-round ratios (each subject trial against the baseline of the same round)."""
    return [s / b if b else float("nan") for s, b in zip(subject, baseline, strict=False)]


# --- the machine ----------------------------------------------------------------------------


def _first_line(argv: Sequence[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unavailable"


def machine() -> dict[str, Any]:
    meminfo = Path("/proc/meminfo").read_text()
    total_kib = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpu = "unknown"
    with contextlib.suppress(OSError, AttributeError):
        cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()).group(1).strip()  # type: ignore[union-attr]
    import sqlite3

    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(total_kib / 1024 / 1024, 1),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "wrk": _first_line(["wrk", "--version"]).split(" [")[0],
        "nginx": _first_line(["nginx", "-v"]),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _first_line(["psql", PG_ADMIN_DSN, "-tAc", "show server_version"]),
    }


# --- memory --------------------------------------------------------------------------------


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields follow the last ')'.
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    children = _children_map()
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _kib(path: Path, key: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass(frozen=True, slots=True)
class Memory:
    """Memory of a process tree: RSS summed over its processes (counts shared pages once per
    process, so it over-states forked workers) and PSS (shared pages split between sharers)."""

    rss_mib: float
    pss_mib: float
    processes: int


def tree_memory(pid: int) -> Memory:
    pids = process_tree(pid)
    rss = sum(_kib(Path(f"/proc/{p}/status"), "VmRSS:") for p in pids)
    pss = sum(_kib(Path(f"/proc/{p}/smaps_rollup"), "Pss:") for p in pids)
    return Memory(rss / 1024, pss / 1024, len(pids))


class PeakMemory:
    """Samples a process tree's memory every ``interval`` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = Memory(0.0, 0.0, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = tree_memory(self.pid)
            if sample.rss_mib > self.peak.rss_mib:
                self.peak = Memory(sample.rss_mib, max(sample.pss_mib, self.peak.pss_mib), sample.processes)
            elif sample.pss_mib > self.peak.pss_mib:
                self.peak = Memory(self.peak.rss_mib, sample.pss_mib, self.peak.processes)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


# --- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Fetched:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(url: str, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> Fetched:
    """One GET over loopback (redirects not followed)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmarks only talk to loopback: {url}")

    class _NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(_NoRedirects)
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310  (loopback http only)
    try:
        with opener.open(request, timeout=timeout) as response:
            return Fetched(int(response.status), {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as exc:
        return Fetched(int(exc.code), {k.lower(): v for k, v in exc.headers.items()}, exc.read())


def http_post_form(url: str, fields: Mapping[str, str], timeout: float = 60.0) -> Fetched:
    """A form POST as a 4chan client sends it (answer as JSON)."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError(f"the benchmarks only talk to loopback: {url}")
    body = urllib.parse.urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310  (loopback http only)
            return Fetched(int(response.status), dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as exc:
        return Fetched(int(exc.code), dict(exc.headers.items()), exc.read())


@dataclass(frozen=True, slots=True)
class Probe:
    """Requests made one after the other by a single client: what one request costs."""

    latencies_ms: tuple[float, ...]
    errors: int

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def probe(send: Callable[[], Fetched], *, count: int, cap_seconds: float) -> Probe:
    """``count`` sequential requests (fewer if they take longer than ``cap_seconds`` in all)."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + cap_seconds
    for _ in range(count):
        started = time.perf_counter()
        try:
            fetched = send()
            if fetched.status >= 400:
                errors += 1
        except OSError:
            errors += 1
        latencies.append((time.perf_counter() - started) * 1000)
        if time.perf_counter() > deadline:
            break
    return Probe(tuple(latencies), errors)


class Service:
    """A process we started: its own session (so its workers can be found and stopped with
    it), its output in a log file, stopped by its id."""

    def __init__(
        self, name: str, argv: Sequence[str], *, env: Mapping[str, str], log: Path, port: int, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.port = port
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, path: str = "/", timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log}")
            with contextlib.suppress(OSError):
                if http_get(self.base + path, timeout=5).status < 500:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer on {self.base}{path} within {timeout:.0f} s; see {self.log}")

    def memory(self) -> Memory:
        return tree_memory(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        # Workers left behind in the session (the group id is the pid of the process we started).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._log_file.close()


def settle(services: Iterable[Service], path: str = "/", *, fast: float = 0.25, timeout: float = 90.0) -> None:
    """Wait until each server answers ``path`` quickly again: requests a load left queued
    (wrk stops, the server still works through what it accepted) must not eat into the next
    measurement."""
    for service in services:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            started = time.monotonic()
            with contextlib.suppress(OSError):
                http_get(service.base + path, timeout=timeout)
            if time.monotonic() - started < fast:
                break


class Services:
    """Stops every service it started, in reverse order, whatever happens."""

    def __init__(self) -> None:
        self._started: list[Service] = []

    def add(self, service: Service) -> Service:
        self._started.append(service)
        return service

    def stop(self, service: Service) -> None:
        service.stop()
        if service in self._started:
            self._started.remove(service)

    def close(self) -> None:
        while self._started:
            self._started.pop().stop()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


# --- the application server ---------------------------------------------------------------


@dataclass(slots=True)
class AppConfig:
    data_dir: Path
    database_url: str
    page_cache: str = "memory"  # memory | redis | off
    workers: int = 2
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, port: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOARD_")}
        env.update(
            {
                "IMAGEBOARD_DATA_DIR": str(self.data_dir),
                "IMAGEBOARD_DATABASE_URL": self.database_url,
                "IMAGEBOARD_PAGE_CACHE": self.page_cache,
                "IMAGEBOARD_HOST": "127.0.0.1",
                "IMAGEBOARD_PORT": str(port),
                "IMAGEBOARD_WORKERS": str(self.workers),
                "IMAGEBOARD_ENVIRONMENT": "production",
                "IMAGEBOARD_SECRET_KEY": "bench-secret-not-for-production",
                # Keep the PostgreSQL connections of a benchmark server bounded: the server is
                # shared with the other engineers' test runs.
                "IMAGEBOARD_DATABASE_POOL_SIZE": "8",
                "IMAGEBOARD_DATABASE_MAX_OVERFLOW": "0",
                **ANTISPAM_ENV,
                **self.extra_env,
            }
        )
        return env


def serve_argv(port: int, workers: int) -> list[str]:
    """The shipped way to run the site: ``imageboard serve``."""
    return [str(IMAGEBOARD), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]


def start_app(
    services: Services,
    name: str,
    config: AppConfig,
    run_dir: Path,
    *,
    argv: Callable[[int, int], list[str]] = serve_argv,
    ready_path: str = "/",
) -> Service:
    port = free_port()
    service = services.add(
        Service(name, argv(port, config.workers), env=config.env(port), log=run_dir / "logs" / f"{name}.log", port=port)
    )
    service.wait_ready(ready_path)
    return service


def start_floor(
    services: Services, name: str, app: str, env: Mapping[str, str], workers: int, run_dir: Path
) -> Service:
    """One of ``bench/floors.py``'s bare ASGI applications under uvicorn, as many processes as
    the site gets."""
    port = free_port()
    argv = [
        str(BIN / "uvicorn"), "--app-dir", str(BENCH), f"floors:{app}", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    service = services.add(
        Service(name, argv, env={**os.environ, **env}, log=run_dir / "logs" / f"{name}.log", port=port)
    )
    service.wait_ready("/")
    return service


# --- NGINX -----------------------------------------------------------------------------------


def render(text: str, values: Mapping[str, str]) -> str:
    """envsubst as the nginx image runs it: only ``${NAME}`` for the names given are replaced."""
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    return text


def _nginx_globals(prefix: Path) -> str:
    user = "user root root; " if os.geteuid() == 0 else ""
    return f"daemon off; {user}pid {prefix / 'nginx.pid'};"


def start_nginx(services: Services, name: str, prefix: Path, run_dir: Path, port: int, ready_path: str) -> Service:
    conf = prefix / "nginx.conf"
    test = subprocess.run(
        ["nginx", "-t", "-p", str(prefix), "-c", str(conf), "-g", _nginx_globals(prefix)],
        capture_output=True,
        text=True,
        check=False,
    )
    if test.returncode != 0:
        raise RuntimeError(f"nginx config {conf} does not load:\n{test.stderr}")
    service = services.add(
        Service(
            name,
            ["nginx", "-p", str(prefix), "-c", str(conf), "-g", _nginx_globals(prefix)],
            env=dict(os.environ),
            log=run_dir / "logs" / f"{name}.log",
            port=port,
        )
    )
    service.wait_ready(ready_path, timeout=20)
    return service


def start_static_nginx(services: Services, name: str, root: Path, run_dir: Path) -> Service:
    """NGINX serving ``root`` as static files: the ceiling of what this machine serves."""
    prefix = run_dir / "nginx" / name
    (prefix / "state").mkdir(parents=True, exist_ok=True)
    port = free_port()
    template = (BENCH / "nginx-static.conf.template").read_text()
    (prefix / "nginx.conf").write_text(
        render(template, {"LISTEN": f"127.0.0.1:{port}", "ROOT": str(root), "STATE_DIR": str(prefix / "state")})
    )
    return start_nginx(services, name, prefix, run_dir, port, "/health")


def shipped_nginx_available() -> bool:
    return (SHIPPED_NGINX / "nginx.conf").is_file() and (SHIPPED_NGINX / "templates").is_dir()


def start_shipped_nginx(services: Services, name: str, upstream_port: int, run_dir: Path) -> Service:
    """The shipped edge (deploy/nginx), rendered as the nginx image's entrypoint renders it:
    templates/*.template into conf.d/, with the upstream pointed at the server under test.
    Its access log (JSON to stdout) goes to the service log."""
    prefix = run_dir / "nginx" / name
    state = prefix / "state"
    state.mkdir(parents=True, exist_ok=True)
    port = free_port()
    values = {
        "IMAGEBOARD_WEB_UPSTREAM": f"127.0.0.1:{upstream_port}",
        "IMAGEBOARD_REALTIME_UPSTREAM": f"127.0.0.1:{upstream_port}",
        "IMAGEBOARD_MEDIA_UPSTREAM": f"127.0.0.1:{upstream_port}",
        "IMAGEBOARD_STATIC_ROOT": str(STATIC_ROOT),
        "IMAGEBOARD_MAX_BODY_BYTES": str(32 * 1024 * 1024),
        "NGINX_STATE_DIR": str(state),
        "NGINX_HTTP_LISTEN": f"127.0.0.1:{port}",
        "NGINX_TRUSTED_PROXY": "127.0.0.1/32",
    }
    shutil.copy(SHIPPED_NGINX / "nginx.conf", prefix / "nginx.conf")
    shutil.copy("/etc/nginx/mime.types", prefix / "mime.types")
    if (prefix / "snippets").exists():
        shutil.rmtree(prefix / "snippets")
    shutil.copytree(SHIPPED_NGINX / "snippets", prefix / "snippets")
    (prefix / "conf.d").mkdir(exist_ok=True)
    for template in sorted((SHIPPED_NGINX / "templates").glob("*.template")):
        (prefix / "conf.d" / template.name.removesuffix(".template")).write_text(render(template.read_text(), values))
    return start_nginx(services, name, prefix, run_dir, port, "/nginx-health")


# --- wrk ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Load:
    """One load-generator run: requests/s, latency percentiles and failures."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx answers plus socket errors

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> Load:
    """Parse the report of ``wrk --latency``."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not rps or not total:
        raise ValueError(f"cannot read wrk output:\n{output}")
    percentiles = {p: _duration_ms(v) for p, v in re.findall(r"^\s+(50|99)(?:\.000)?%\s+(\S+)", output, re.M)}
    errors = 0
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        errors += sum(int(x) for x in sockets.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    return Load(
        rps=float(rps.group(1)),
        p50_ms=percentiles.get("50", float("nan")),
        p99_ms=percentiles.get("99", float("nan")),
        requests=int(total.group(1)),
        errors=errors,
    )


@dataclass(frozen=True, slots=True)
class WrkOptions:
    duration: float = 5.0
    connections: int = 32
    threads: int = 2
    timeout: float = 10.0


def run_wrk(
    url: str,
    options: WrkOptions,
    *,
    script: Path | None = None,
    headers: Mapping[str, str] | None = None,
    script_args: Sequence[str] = (),
) -> Load:
    argv = [
        "wrk",
        "--latency",
        "-t",
        str(min(options.threads, options.connections)),
        "-c",
        str(options.connections),
        "-d",
        f"{options.duration:g}s",
        "--timeout",
        f"{options.timeout:g}s",
    ]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=options.duration + 60, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stderr or result.stdout}")
    return parse_wrk(result.stdout)


# --- raw-driver baselines (bench/driver.py, a process of its own) ------------------------


@dataclass(frozen=True, slots=True)
class DriverRun:
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    ops: int


def run_driver(args: Sequence[str], *, timeout: float = 300.0) -> DriverRun:
    result = subprocess.run(
        [PYTHON, str(BENCH / "driver.py"), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"driver baseline failed: {result.stderr}")
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return DriverRun(float(data["ops_per_s"]), float(data["p50_ms"]), float(data["p99_ms"]), int(data["ops"]))


# --- PostgreSQL throw-away databases ----------------------------------------------------------


def pg_dsn(database: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + database


def sqlalchemy_pg_url(database: str) -> str:
    return pg_dsn(database).replace("postgresql://", "postgresql+asyncpg://", 1)


def _psql(sql: str) -> None:
    subprocess.run(["psql", PG_ADMIN_DSN, "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True, capture_output=True)


def create_pg_database(name: str, template: str | None = None) -> None:
    drop_pg_database(name)
    _psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


def drop_pg_database(name: str) -> None:
    _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_run_databases(pid: int) -> None:
    """Every database this run made (they are named bench_*_<pid>)."""
    listed = subprocess.run(
        ["psql", PG_ADMIN_DSN, "-tAc", f"SELECT datname FROM pg_database WHERE datname LIKE 'bench\\_%\\_{pid}'"],  # noqa: S608
        capture_output=True,
        text=True,
        check=False,
    )
    for name in listed.stdout.split():
        drop_pg_database(name)


@contextlib.contextmanager
def pg_database(name: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh database for the run; dropped afterwards unless ``keep``."""
    create_pg_database(name)
    try:
        yield name
    finally:
        if not keep:
            drop_pg_database(name)


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# --- reporting -------------------------------------------------------------------------------


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Section:
    """One benchmark's part of the report: a title, the command that reproduces it, notes,
    markdown tables, and the raw figures for results.json."""

    title: str
    command: str
    notes: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def markdown(self) -> str:
        parts = [f"### {self.title}", "", f"Command: `{self.command}`", ""]
        for table in self.tables:
            parts += [table, ""]
        parts += [f"- {note}" for note in self.notes]
        return "\n".join(parts).rstrip() + "\n"


def run_dir_for(base: Path | None = None) -> Path:
    base = base or ROOT / "var" / "bench"
    path = base / datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_section(run_dir: Path, section: Section) -> None:
    """Each benchmark leaves its section in the run directory, as markdown and JSON."""
    slug = re.sub(r"[^a-z0-9]+", "-", section.title.lower()).strip("-")
    (run_dir / f"{slug}.md").write_text(section.markdown())
    (run_dir / f"{slug}.json").write_text(json.dumps(asdict(section), indent=2, default=str))


@dataclass(slots=True)
class Run:
    """What every benchmark of one ``bench/run.py`` invocation shares."""

    run_dir: Path
    services: Services
    rounds: int = 3
    duration: float = 5.0
    short_duration: float = 3.0
    connections: int = 32
    wrk_threads: int = 2
    workers: int = 2
    full: bool = False
    read_engine: str = "sqlite"
    growth_posts: int = 100_000
    keep: bool = False
    command: str = "bench/run.py"
    sites: dict[str, Any] = field(default_factory=dict)

    def wrk(self, *, short: bool = False, connections: int | None = None) -> WrkOptions:
        return WrkOptions(
            duration=self.short_duration if short else self.duration,
            connections=connections or self.connections,
            threads=self.wrk_threads,
        )

"""A real server process (the `imageboard` command) and headless Chromium."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = os.environ.get("IMAGEBOARD_TEST_CHROMIUM", "/usr/bin/chromium")
CLI = str(Path(sys.executable).with_name("imageboard"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningServer:
    url: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    def cli(self, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args], env=self.env, capture_output=True, text=True, timeout=120, input=input_text, check=False
        )


def start_server(data_dir: Path, extra_env: dict[str, str] | None = None) -> RunningServer:
    port = free_port()
    env = {
        **os.environ,
        "IMAGEBOARD_DATA_DIR": str(data_dir),
        "IMAGEBOARD_PORT": str(port),
        # Limits stay on, but a test's first post need not wait out the new-poster warm-up.
        "IMAGEBOARD_ANTISPAM_WARMUP_SECONDS": "0",
        **(extra_env or {}),
    }
    subprocess.run([CLI, "init"], env=env, check=True, capture_output=True, timeout=120)
    process = subprocess.Popen([CLI, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            if httpx.get(url + "/", timeout=1).status_code == 200:
                return RunningServer(url, data_dir, process, env)
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start within 30 s")


def stop_server(server: RunningServer) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("site"))
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                "--disable-quic",
            ],
        )
        yield instance
        await instance.close()

"""``imageboard demo --posts N`` from the command line: bad arguments get one-line errors,
and without a terminal the command stays quiet on stderr but still finishes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .conftest import CLI


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEBOARD_")}
    environment["IMAGEBOARD_DATA_DIR"] = str(data_dir)
    return subprocess.run([CLI, *args], env=environment, capture_output=True, text=True, timeout=120, check=False)


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imageboard: error:"), result.stderr
    return lines[0]


def test_bad_arguments(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    assert "--posts" in one_line_error(run(tmp_path, "demo", "--posts", "0"))
    assert "--posts" in one_line_error(run(tmp_path, "demo", "--posts", "lots"))
    assert "--posts" in one_line_error(run(tmp_path, "demo", "--posts", "99999999999"))
    both = run(tmp_path, "demo", "--posts", "10", "--threads", "2")
    assert both.returncode == 1
    assert (
        one_line_error(both)
        == "imageboard: error: --posts plans its own threads: give either --posts or --threads/--replies"
    )
    listing = run(tmp_path, "list-boards")
    assert all(line.endswith("\t0 posts") for line in listing.stdout.splitlines())  # nothing was written


def test_no_board_for_text_posts(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    assert run(tmp_path, "create-board", "p", "Photos").returncode == 0  # a file is required to open a thread
    result = run(tmp_path, "demo", "--posts", "10")
    assert result.returncode == 1
    assert "no board for text posts" in one_line_error(result)


def test_without_a_terminal_it_finishes_quietly(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    result = run(tmp_path, "demo", "--posts", "500")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote 500 posts in ") and result.stdout.rstrip().endswith("posts/s)")
    assert "Traceback" not in result.stderr
    listing = run(tmp_path, "list-boards")
    assert sum(int(line.rsplit("\t", 1)[1].split()[0]) for line in listing.stdout.splitlines()) == 500

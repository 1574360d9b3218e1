"""The `imageboard` command as an operator uses it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .conftest import CLI


def run(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "IMAGEBOARD_DATA_DIR": str(data_dir), **env}
    return subprocess.run([CLI, *args], env=environment, capture_output=True, text=True, timeout=120, check=False)


def test_init_creates_default_boards_once(tmp_path: Path) -> None:
    first = run(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    assert "/b/" in first.stdout
    assert (tmp_path / "imageboard.sqlite3").exists()
    second = run(tmp_path, "init")
    assert second.returncode == 0 and "created" not in second.stdout
    listing = run(tmp_path, "list-boards")
    assert listing.stdout.splitlines()[0].startswith("/b/\tRandom")
    assert any("[work-safe]" in line for line in listing.stdout.splitlines())


def test_create_board_and_demo(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    made = run(
        tmp_path,
        "create-board",
        "g",
        "Technology",
        "--work-safe",
        "--poster-ids",
        "--no-require-file",
        "--bump-limit",
        "50",
    )
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == "created /g/ - Technology"
    demo = run(tmp_path, "demo", "--threads", "3", "--replies", "4")
    assert demo.returncode == 0, demo.stderr
    assert int(demo.stdout.split("wrote ")[1].split()[0]) >= 3


def test_bad_arguments_give_one_line_errors(tmp_path: Path) -> None:
    assert run(tmp_path, "migrate").returncode == 0
    cases = [
        ("create-board", "Bad URI!", "Title"),
        ("create-board", "g", "Title", "--bump-limit", "-3"),
        ("create-board", "all", "Reserved"),
        ("serve", "--port", "99999"),
        ("no-such-command",),
    ]
    for args in cases:
        result = run(tmp_path, *args)
        assert result.returncode != 0, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("imageboard: error:"), (args, result.stderr)
    assert run(tmp_path, "create-board", "g", "One", "--no-require-file").returncode == 0
    duplicate = run(tmp_path, "create-board", "g", "Two")
    assert duplicate.returncode == 1 and duplicate.stderr.strip() == "imageboard: error: /g/ already exists"


def test_bad_setting_is_reported(tmp_path: Path) -> None:
    result = run(tmp_path, "list-boards", IMAGEBOARD_PORT="not-a-port")
    assert result.returncode != 0
    assert result.stderr.strip().startswith("imageboard: error: setting IMAGEBOARD_PORT")


def test_fresh_data_directory_is_created(tmp_path: Path) -> None:
    fresh = tmp_path / "not" / "yet" / "there"
    result = run(fresh, "init")
    assert result.returncode == 0, result.stderr
    assert (fresh / "imageboard.sqlite3").exists()


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    result = run(tmp_path, "migrate", IMAGEBOARD_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/none")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imageboard: error: cannot migrate the database"), result.stderr

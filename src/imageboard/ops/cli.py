"""``imageboard backup PATH`` and ``imageboard restore PATH [--force]``.

Registered on the main command by ``register(app)`` in ``imageboard.cli``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from imageboard.config import Settings, load_settings
from imageboard.ops.backup import BackupError, create_backup, restore_backup

__all__ = ["backup", "register", "restore"]


def _fail(message: str) -> None:
    typer.echo(f"imageboard: error: {message}", err=True)
    raise typer.Exit(code=1)


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"setting IMAGEBOARD_{str(first['loc'][0]).upper()}: {first['msg']}")
        raise  # unreachable: _fail exits


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def backup(
    path: Annotated[
        Path, typer.Argument(help="Archive to write (.tar.gz), or a directory to put a dated archive in.")
    ],
) -> None:
    """Back up the SQLite database (a consistent snapshot, taken while the site runs), the media
    directory and the server secret into one .tar.gz with checksums."""
    settings = _settings()
    try:
        result = create_backup(data_dir=settings.data_dir, database_url=settings.effective_database_url, dest=path)
    except (BackupError, OSError) as exc:
        _fail(str(exc))
        return
    revision = f", schema {result.database_revision}" if result.database_revision else ""
    typer.echo(f"wrote {result.path} ({result.files} files, {_size(result.bytes)}{revision})")


def restore(
    path: Annotated[Path, typer.Argument(help="Archive made by 'imageboard backup'.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace a non-empty data directory (its contents are moved aside)."),
    ] = False,
) -> None:
    """Restore a backup into the data directory after checking every checksum. Stop the server
    first; run 'imageboard migrate' afterwards when restoring into a newer version."""
    settings = _settings()
    try:
        result = restore_backup(
            archive=path, data_dir=settings.data_dir, database_url=settings.effective_database_url, force=force
        )
    except (BackupError, OSError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"restored {result.files} files ({_size(result.bytes)}) into {settings.data_dir}")
    if result.moved_aside is not None:
        typer.echo(f"the previous contents are in {result.moved_aside}")


def register(app: typer.Typer) -> None:
    """Add ``backup`` and ``restore`` to the ``imageboard`` command."""
    app.command("backup")(backup)
    app.command("restore")(restore)

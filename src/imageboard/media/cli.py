"""``imageboard media gc`` and ``imageboard media rebuild-thumbnails``.

Registered on the main command by ``register(app)`` in ``imageboard.cli``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from imageboard.config import Settings, load_settings
from imageboard.core.db import Database
from imageboard.media.service import MediaService

__all__ = ["register"]

T = TypeVar("T")

media_app = typer.Typer(
    name="media",
    help="Look after stored files: collect unreferenced blobs, rebuild thumbnails.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


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


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__


def _with_media(work: Callable[[MediaService], Awaitable[T]]) -> T:
    settings = _settings()
    # The composition root knows how storage is chosen (local disk or S3); ask it rather
    # than repeat its rules here.
    from imageboard.media.storage import storage_from_settings

    try:
        storage = storage_from_settings(settings)
    except ValueError as exc:
        _fail(str(exc))
        raise

    async def run() -> T:
        db = Database(settings.effective_database_url)
        try:
            media = MediaService(
                db,
                storage,
                media_base_url=settings.media_base_url,
                workdir=settings.data_dir / "tmp",
            )
            return await work(media)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except (DBAPIError, OSError) as exc:
        _fail(f"cannot reach the database or the media storage: {_first_line(exc)}")
        raise


@media_app.command("gc")
def gc(
    grace_hours: Annotated[
        float | None,
        typer.Option(
            "--grace-hours",
            min=0,
            help="Keep unreferenced files younger than this (IMAGEBOARD_MEDIA_GC_GRACE_HOURS); "
            "0 removes every unreferenced file — only while no upload is running.",
        ),
    ] = None,
) -> None:
    """Remove stored originals and thumbnails that no post uses, and what uploads cut short
    by a crash left behind (half-written files, scratch files of the work directory)."""
    hours = _settings().media_gc_grace_hours if grace_hours is None else grace_hours
    grace = timedelta(hours=hours)

    async def work(media: MediaService) -> tuple[list[str], list[str]]:
        return await media.gc(grace=grace), await media.sweep_scratch(grace=grace)

    removed, scratch = _with_media(work)
    for key in removed:
        typer.echo(key)
    for name in scratch:
        typer.echo(f"tmp/{name}")
    total = len(removed) + len(scratch)
    typer.echo(f"removed {total} unreferenced file{'' if total == 1 else 's'}")


@media_app.command("rebuild-thumbnails")
def rebuild_thumbnails(
    board: Annotated[str | None, typer.Option("--board", help="Only this board's files (its URI).")] = None,
) -> None:
    """Make every thumbnail again from its stored original (after a change of thumbnail
    settings or of the image library)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("thumbnails"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=False
    ) as progress:
        task = progress.add_task("thumbnails", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        written = _with_media(lambda media: media.rebuild_thumbnails(board_uri=board, progress=advance))
    typer.echo(f"rebuilt {written} thumbnail{'' if written == 1 else 's'}")


def register(app: typer.Typer) -> None:
    """Add the ``media`` command group to the main command."""
    app.add_typer(media_app, name="media")

"""The ``imageboard`` command: serve the site and look after it."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from imageboard.boards import BoardSpec, BoardsService
from imageboard.config import Settings, load_settings
from imageboard.core.db import Database
from imageboard.core.errors import DomainError
from imageboard.media.cli import register as register_media_commands
from imageboard.ops.cli import register as register_ops_commands

app = typer.Typer(
    name="imageboard",
    help="Run and administer the imageboard.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    no_args_is_help=True,
)
T = TypeVar("T")

DEFAULT_BOARDS = (
    BoardSpec(uri="b", title="Random", description="Anything goes (within the global rules).", require_file=False),
    BoardSpec(
        uri="tech",
        title="Technology",
        description="Computers, software, hardware and the people who make them.",
        work_safe=True,
        require_file=False,
        poster_ids=True,
    ),
    BoardSpec(
        uri="meta",
        title="Site Feedback",
        description="Talk about this site: bugs, requests and announcements.",
        work_safe=True,
        require_file=False,
        text_only=True,
    ),
)


def _fail(message: str) -> None:
    typer.echo(f"imageboard: error: {message}", err=True)
    raise typer.Exit(code=1)


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__


def _settings() -> Settings:
    try:
        return load_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"setting IMAGEBOARD_{str(first['loc'][0]).upper()}: {first['msg']}")
        raise  # unreachable: _fail exits


def _with_service(work: Callable[[BoardsService], Awaitable[T]]) -> T:
    settings = _settings()

    async def run() -> T:
        db = Database(settings.effective_database_url)
        try:
            return await work(BoardsService(db, secret=settings.secret))
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        _fail(exc.message)
        raise
    except (DBAPIError, OSError) as exc:
        _fail(f"cannot reach the database: {_first_line(exc)}")
        raise


@app.command()
def migrate() -> None:
    """Apply the database migrations."""
    from imageboard.core.migrate import upgrade

    settings = _settings()
    try:
        upgrade(settings.effective_database_url)
    except (DBAPIError, OSError) as exc:
        _fail(f"cannot migrate the database: {_first_line(exc)}")
    typer.echo("database is up to date")


@app.command()
def init() -> None:
    """Migrate, and create the default boards when there are none yet."""
    migrate()

    async def work(boards: BoardsService) -> int:
        if await boards.count_boards():
            return 0
        for spec in DEFAULT_BOARDS:
            await boards.create_board(spec)
        return len(DEFAULT_BOARDS)

    created = _with_service(work)
    if created:
        typer.echo(f"created {created} default boards: " + ", ".join(f"/{b.uri}/" for b in DEFAULT_BOARDS))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on (IMAGEBOARD_HOST).")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="Port (IMAGEBOARD_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Server processes (IMAGEBOARD_WORKERS).")] = None,
    role: Annotated[
        str | None, typer.Option(help="all, web, worker or realtime (IMAGEBOARD_ROLE); all runs everything.")
    ] = None,
) -> None:
    """Serve the site, or one role of it."""
    from imageboard.events.runtime import run_role
    from imageboard.events.settings import ROLES

    # Worker processes build their own settings from the environment, so options go there.
    for key, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"IMAGEBOARD_{key}"] = str(value)
    chosen = role or os.environ.get("IMAGEBOARD_ROLE", "all")
    if chosen not in ROLES:
        _fail(f"unknown role '{chosen}': choose one of {', '.join(ROLES)}")
    settings = _settings()
    if chosen != "worker":
        typer.echo(f"serving {chosen} on http://{settings.host}:{settings.port}/ with {settings.workers} worker(s)")
    run_role(settings, chosen)  # type: ignore[arg-type]


@app.command("create-board")
def create_board(
    uri: Annotated[str, typer.Argument(help="Board URI: 1-32 lowercase letters or digits.")],
    title: Annotated[str, typer.Argument(help="Board title.")],
    description: Annotated[str, typer.Option()] = "",
    work_safe: Annotated[bool, typer.Option("--work-safe/--not-work-safe")] = False,
    threads_per_page: Annotated[int, typer.Option()] = 15,
    pages: Annotated[int, typer.Option()] = 10,
    bump_limit: Annotated[int, typer.Option()] = 300,
    image_limit: Annotated[int, typer.Option()] = 150,
    max_comment_length: Annotated[int, typer.Option()] = 2000,
    forced_anonymous: Annotated[bool, typer.Option()] = False,
    default_name: Annotated[str, typer.Option()] = "Anonymous",
    poster_ids: Annotated[bool, typer.Option()] = False,
    text_only: Annotated[bool, typer.Option()] = False,
    require_subject: Annotated[bool, typer.Option()] = False,
    require_file: Annotated[bool, typer.Option("--require-file/--no-require-file")] = True,
    country_flags: Annotated[bool, typer.Option()] = False,
    cyclic_limit: Annotated[int, typer.Option()] = 250,
    archive: Annotated[bool, typer.Option("--archive/--no-archive")] = True,
    archive_days: Annotated[int, typer.Option()] = 7,
) -> None:
    """Create a board."""
    values: dict[str, Any] = dict(locals())
    values["archive_enabled"] = values.pop("archive")
    try:
        spec = BoardSpec(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        _fail(f"{first['loc'][0] if first['loc'] else 'board'}: {first['msg'].removeprefix('Value error, ')}")
        return
    board = _with_service(lambda boards: boards.create_board(spec))
    typer.echo(f"created /{board.uri}/ - {board.title}")


@app.command("list-boards")
def list_boards() -> None:
    """List the boards."""
    for board in _with_service(lambda boards: boards.list_boards()):
        flags = " [work-safe]" if board.work_safe else ""
        typer.echo(f"/{board.uri}/\t{board.title}{flags}\t{board.last_post_no} posts")


@app.command()
def demo(
    threads: Annotated[int | None, typer.Option(min=1, max=10_000, help="Threads per board (default 12).")] = None,
    replies: Annotated[int | None, typer.Option(min=0, max=1_000, help="Most replies per thread (default 40).")] = None,
    posts: Annotated[
        int | None,
        typer.Option(min=1, max=10_000_000, help="Write this many posts at once, in batches, over every board."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed, for repeatable content.")] = 1,
) -> None:
    """Fill every board with realistic threads for trying the site."""
    if posts is not None:
        if threads is not None or replies is not None:
            _fail("--posts plans its own threads: give either --posts or --threads/--replies")
        _demo_bulk(posts, seed)
        return
    from imageboard.boards.demo import fill_boards

    async def work(boards: BoardsService) -> int:
        per_board = 12 if threads is None else threads
        most = 40 if replies is None else replies
        return await fill_boards(boards, threads_per_board=per_board, max_replies=most, seed=seed)

    count = _with_service(work)
    typer.echo(f"wrote {count} posts")


def _demo_bulk(posts: int, seed: int) -> None:
    import time

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from imageboard.boards.demo import fill_bulk
    from imageboard.search import SearchService

    settings = _settings()
    console = Console(stderr=True)

    async def run() -> tuple[int, int, int, float]:
        db = Database(settings.effective_database_url)
        started = time.perf_counter()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        try:
            with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
                task = progress.add_task("writing posts", total=posts)
                result = await fill_bulk(
                    db, posts=posts, seed=seed, secret=settings.secret,
                    on_written=lambda n: progress.advance(task, n),
                )  # fmt: skip
                progress.update(task, description="indexing for search")
                await SearchService(db).reindex(after_id=result.first_post_id - 1)
            return result.posts, result.threads, result.archived, time.perf_counter() - started
        finally:
            await db.dispose()

    try:
        written, made, archived, seconds = asyncio.run(run())
    except DomainError as exc:
        _fail(exc.message)
        return
    except (DBAPIError, OSError) as exc:
        _fail(f"cannot reach the database: {_first_line(exc)}")
        return
    typer.echo(
        f"wrote {written} posts in {made} threads ({archived} archived) in {seconds:.1f} s "
        f"({written / seconds:,.0f} posts/s)"
    )


@app.command("create-user")
def create_user(
    username: Annotated[str, typer.Argument(help="3-32 lowercase letters, digits or underscores.")],
    role: Annotated[str | None, typer.Option(help="Site role: admin, global_moderator or global_janitor.")] = None,
) -> None:
    """Create a staff account. The password is read from standard input, or generated and
    printed when standard input is a terminal or empty."""
    from imageboard.accounts import AccountsService, SiteRole

    site_role: SiteRole | None = None
    if role is not None:
        try:
            site_role = SiteRole(role)
        except ValueError:
            _fail(f"unknown role '{role}': choose admin, global_moderator or global_janitor")
    password = "" if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    generated = not password
    if generated:
        password = secrets.token_urlsafe(18)
    settings = _settings()

    async def work() -> str:
        db = Database(settings.effective_database_url)
        try:
            return (await AccountsService(db).create_user(username, password, site_role=site_role)).username
        finally:
            await db.dispose()

    try:
        name = asyncio.run(work())
    except DomainError as exc:
        _fail(exc.message)
        return
    typer.echo(f"created user {name}" + (f" ({site_role.value})" if site_role else ""))
    if generated:
        typer.echo(f"password: {password}")
    if site_role is not None:
        typer.echo("site staff must set up two-factor sign-in at /account/2fa before acting as staff")


@app.command()
def prune() -> None:
    """Remove archived threads past their board's archive period."""
    removed = _with_service(lambda boards: boards.prune_archives())
    typer.echo(f"removed {removed} archived threads")


@app.command("purge-ips")
def purge_ips(
    days: Annotated[
        int | None, typer.Option(min=0, help="Keep addresses this many days (default: each board's setting).")
    ] = None,
) -> None:
    """Forget posters' and reporters' IP addresses past their retention period."""
    from imageboard.moderation.tasks import purge_old_ips

    settings = _settings()

    async def work() -> str:
        db = Database(settings.effective_database_url)
        try:
            return str(await purge_old_ips(db, days))
        finally:
            await db.dispose()

    typer.echo(f"purged: {asyncio.run(work())}")


register_ops_commands(app)
register_media_commands(app)


def main() -> None:
    try:
        # Without standalone mode click returns the code of a typer.Exit instead of exiting.
        result = app(standalone_mode=False)
        sys.exit(result if isinstance(result, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.echo("imageboard: aborted", err=True)
        sys.exit(130)
    except Exception as exc:
        # Usage errors (bad options, unknown commands) come from whichever click the installed
        # typer uses; they all carry a message and an exit code.
        message = getattr(exc, "format_message", None)
        if message is None or not hasattr(exc, "exit_code"):
            raise
        typer.echo(f"imageboard: error: {message()}", err=True)
        sys.exit(exc.exit_code)

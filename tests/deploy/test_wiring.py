"""The application is wired to its operations parts: settings, routes, middleware, commands."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

from imageboard.app import create_app
from imageboard.cli import app as cli_app
from imageboard.config import Settings
from imageboard.observability.middleware import RequestObservability


def test_settings_have_the_operations_fields() -> None:
    settings = Settings()
    assert settings.log_format == "auto"  # type: ignore[attr-defined]
    assert settings.log_level == "INFO"  # type: ignore[attr-defined]
    assert settings.log_ips is False  # type: ignore[attr-defined]
    assert settings.otlp_endpoint == ""  # type: ignore[attr-defined]
    assert settings.trace_sample_ratio == 1.0  # type: ignore[attr-defined]
    assert settings.sentry_dsn == ""  # type: ignore[attr-defined]
    assert settings.metrics_dir == ""  # type: ignore[attr-defined]


def test_create_app_installs_routes_first_and_the_request_middleware_outermost(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, secret_key="s"))
    paths = [getattr(route, "path", "") for route in app.router.routes]
    assert paths[:3] == ["/healthz", "/readyz", "/metrics"]  # before /{board}, which would take them
    assert app.user_middleware[0].cls is RequestObservability  # type: ignore[comparison-overlap]


def test_backup_and_restore_are_commands() -> None:
    commands = get_command(cli_app).commands  # type: ignore[attr-defined]
    assert {"backup", "restore"} <= set(commands)

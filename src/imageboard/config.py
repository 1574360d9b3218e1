"""All settings of the site, read from the environment (prefix ``IMAGEBOARD_``).

Every default is the embedded, one-machine setup: SQLite in WAL mode and files on local
disk under the data directory. Pointing ``IMAGEBOARD_DATABASE_URL`` at PostgreSQL is all it
takes to run on PostgreSQL.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGEBOARD_", env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("./var"), description="Where the embedded database, media and secrets live.")
    database_url: str = Field(default="", description="SQLAlchemy URL; empty means SQLite in the data directory.")
    database_pool_size: int = Field(default=10, ge=1, le=200)
    database_max_overflow: int = Field(default=10, ge=0, le=200)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    site_name: str = "Imageboard"
    site_description: str = "An anonymous imageboard."
    public_url: str = Field(default="", description="Absolute base URL of the site, for feeds and links.")
    environment: Literal["development", "production"] = "development"
    language: str = Field(
        default="", description="Force one UI language (e.g. 'de'); empty picks from Accept-Language."
    )

    secret_key: str = Field(
        default="",
        description=(
            "Server secret for secure tripcodes, poster IDs and deletion passwords; "
            "generated and kept in the data directory when empty."
        ),
    )

    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'imageboard.sqlite3'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @cached_property
    def secret(self) -> bytes:
        """The server secret; made once and kept in the data directory so restarts keep tripcodes stable."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            # Several server processes may start at once: write aside, then link into place
            # atomically so every process ends up reading the same secret.
            self.data_dir.mkdir(parents=True, exist_ok=True)
            draft = path.with_name(f"secret.key.{os.getpid()}")
            draft.write_text(secrets.token_urlsafe(48))
            draft.chmod(0o600)
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
            draft.unlink()
        return path.read_text().strip().encode()


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]

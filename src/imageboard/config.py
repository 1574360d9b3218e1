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
    database_replica_url: str = Field(
        default="", description="A read replica (PostgreSQL); pages and API reads go there, writes to the primary."
    )
    read_your_writes_seconds: float = Field(
        default=10.0, ge=0, description="After posting, a client reads from the primary this long."
    )
    version_memo_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description=(
            "How long a process reuses a page's version (the check before serving a cached page) "
            "instead of asking the database; another process's write shows after at most this "
            "long, the writer's own at once. 0 asks on every request."
        ),
    )
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

    # Operations: logs, metrics, tracing, error reports (docs/operations.md).
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto", description="'json' for log shippers, 'console' for people; 'auto': console in development."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_ips: bool = Field(default=False, description="Write client addresses into access logs and Sentry events.")
    otlp_endpoint: str = Field(
        default="", description="OTLP/HTTP collector base URL (e.g. http://jaeger:4318); empty: no tracing."
    )
    trace_sample_ratio: float = Field(default=1.0, ge=0.0, le=1.0, description="Share of requests traced.")
    sentry_dsn: str = Field(default="", description="Sentry DSN; empty: nothing is sent.")
    metrics_dir: str = Field(
        default="",
        description="Directory for the metric files of several server processes; empty: a temporary one.",
    )

    # Anti-spam (imageboard.antispam). Each limit is a count per window; 0 turns that limit off.
    antispam: Literal["on", "off"] = Field(
        default="on",
        description="Rate limits, captcha, network lists and spam checks; 'off' only for local development, "
        "demos and load tests (a loud warning is logged at start-up).",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description='CIDRs whose X-Forwarded-For / X-Real-IP are believed, as JSON: ["10.0.0.0/8", "fd00::/8"].',
    )
    network_list_file: str = Field(default="", description="Operator's file of IPs/CIDRs (e.g. Tor exits).")
    antispam_threads_per_window: int = Field(default=3, ge=0)
    antispam_thread_window: float = Field(default=900.0, gt=0)
    antispam_replies_per_window: int = Field(default=6, ge=0)
    antispam_reply_window: float = Field(default=60.0, gt=0)
    antispam_files_per_hour: int = Field(default=60, ge=0)
    antispam_duplicate_window: float = Field(default=600.0, ge=0)
    antispam_site_burst_posts: int = Field(default=60, ge=0)
    antispam_site_burst_window: float = Field(default=10.0, gt=0)
    antispam_read_requests: int = Field(default=600, ge=0)
    antispam_read_window: float = Field(default=60.0, gt=0)
    antispam_max_links: int = Field(default=5, ge=-1)
    antispam_warmup_seconds: float = Field(default=30.0, ge=0)
    antispam_automated_checks: bool = True
    antispam_captcha_mode: Literal["off", "threads", "all"] = "off"
    antispam_network_list_action: Literal["refuse", "captcha", "hold"] = "refuse"
    antispam_pow_bits: int = Field(default=16, ge=1, le=32)
    antispam_captcha_ttl: float = Field(default=600.0, gt=0)
    antispam_grace_posts: int = Field(default=10, ge=0)
    antispam_grace_seconds: float = Field(default=900.0, gt=0)

    media_storage: Literal["local", "s3"] = Field(default="local", description="Where files are kept.")
    media_root: Path | None = Field(default=None, description="Local media directory; default <data_dir>/media.")
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_bucket: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_public_base_url: str = Field(default="", description="Public URL of the bucket (a CDN); media redirect there.")
    s3_key_prefix: str = ""
    media_gc_grace_hours: float = Field(default=6.0, gt=0)
    media_gc_interval_minutes: float = Field(default=60.0, gt=0)
    max_video_seconds: float = Field(default=300.0, gt=0)
    max_image_pixels: int = Field(default=50_000_000, gt=0)
    max_image_dimension: int = Field(default=10_000, gt=0)
    max_gif_frames: int = Field(default=1000, gt=0)

    media_base_url: str = Field(
        default="/media", description="Where media URLs point: this site's /media, or a media origin or CDN."
    )

    redis_url: str = Field(default="", description="Redis for the shared page cache, rate limits and live updates.")
    page_cache: Literal["memory", "redis", "off"] = Field(
        default="memory", description="Where rendered pages are cached: in each process, in Redis, or not at all."
    )
    page_cache_bytes: int = Field(default=32 * 1024 * 1024, ge=0, description="In-process page cache size.")

    # Search (imageboard.search).
    search_indexing: Literal["inline", "worker"] = Field(
        default="inline",
        description="'inline': new posts are indexed in their posting transaction; 'worker': by the search "
        "worker group from post.created events (register imageboard.search.tasks:register).",
    )

    # Edge purge (imageboard.web.tasks): the worker tells the edge caches what a write changed.
    edge_purge: Literal["off", "nginx", "varnish"] = Field(
        default="off",
        description="'nginx': refresh requests the shipped NGINX config honours from internal addresses; "
        "'varnish': PURGE of each URL and a BAN by surrogate key (deploy/varnish/default.vcl).",
    )
    edge_purge_urls: str = Field(
        default="", description="Comma-separated base URLs of every edge cache (http://edge1:8080,http://edge2:8080)."
    )
    edge_purge_host: str = Field(
        default="", description="Host header of the purge requests (the site's host); empty: from public_url."
    )
    edge_purge_timeout: float = Field(default=2.0, gt=0, le=60, description="Seconds per purge request.")
    edge_purge_retries: int = Field(default=4, ge=0, le=10, description="Retries of a failed purge, with backoff.")
    edge_purge_concurrency: int = Field(default=8, ge=1, le=64, description="Purge requests in flight per edge.")

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

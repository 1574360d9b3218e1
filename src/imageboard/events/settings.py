"""Settings of the events context, read from the environment (prefix ``IMAGEBOARD_``).

Defaults are the embedded setup: the in-process bus, in-process live updates, one process.
``IMAGEBOARD_EVENT_BUS=nats`` with ``IMAGEBOARD_NATS_URL`` switches to JetStream;
``IMAGEBOARD_REDIS_URL`` shares live updates and their history between realtime processes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["all", "web", "worker", "realtime"]
ROLES: tuple[Role, ...] = ("all", "web", "worker", "realtime")


class EventSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IMAGEBOARD_", env_file=None, extra="ignore")

    role: Role = Field(default="all", description="What this process does: all, web, worker or realtime.")
    event_bus: Literal["memory", "nats"] = Field(default="memory", description="memory (one process) or nats.")
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = Field(default="IMAGEBOARD", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    nats_subject_prefix: str = Field(default="imageboard.events", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    nats_max_age_days: float = Field(default=7.0, gt=0, description="How long the stream keeps events (replay).")
    redis_url: str = Field(default="", description="Redis for live-update fan-out; empty: through the bus.")
    redis_prefix: str = "imageboard"

    sse_heartbeat: float = Field(default=15.0, gt=0)
    sse_max_per_client: int = Field(default=8, ge=1)
    sse_max_total: int = Field(default=10_000, ge=1)
    sse_history: int = Field(default=100, ge=1, le=10_000, description="Events kept per channel for resume.")

    outbox_lease: float = Field(default=30.0, gt=0, description="Seconds before another relay may take a row over.")
    outbox_sweep_interval: float = Field(default=5.0, gt=0)
    outbox_retention_hours: float = Field(default=24.0, gt=0)

    worker_groups: str = Field(default="", description="Comma-separated groups this worker runs; empty: all.")
    worker_tasks: str = Field(default="", description="Comma-separated module:function that register handlers.")
    worker_concurrency: int = Field(default=4, ge=1, le=256)
    worker_ack_wait: float = Field(default=60.0, gt=0)
    worker_max_deliver: int = Field(default=5, ge=1)
    worker_health_port: int = Field(default=0, ge=0, le=65535, description="Health/metrics port; 0: none.")
    shutdown_timeout: float = Field(default=30.0, ge=0)

    video_processing: Literal["worker", "inline"] = Field(
        default="worker",
        description="worker: a posted video shows as processing until a worker (or --role all) finishes it; "
        "inline: in the request.",
    )

    webhook_max_attempts: int = Field(default=6, ge=1, le=20)
    webhook_base_delay: float = Field(default=2.0, gt=0)
    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_allow_private: bool = Field(default=False, description="Let webhooks reach private addresses.")

    @property
    def group_filter(self) -> set[str] | None:
        groups = {name.strip() for name in self.worker_groups.split(",") if name.strip()}
        return groups or None

    @property
    def task_specs(self) -> list[str]:
        return [spec.strip() for spec in self.worker_tasks.split(",") if spec.strip()]

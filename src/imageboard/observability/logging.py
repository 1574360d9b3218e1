"""Logs: one JSON object per line for Logstash/Elasticsearch, or readable lines for people.

Every record of every logger (the site's, uvicorn's, SQLAlchemy's) goes through the same
handler on standard output, and carries the request ID and, when tracing is on, the trace
and span IDs of the request it was written for. Field names follow the Elastic Common
Schema (``@timestamp``, ``log.level``, ``http.request.id``, ``trace.id``, …), so an
Elasticsearch index template for ECS maps them without a Logstash filter.

Plain standard-library logging, on purpose: structlog would add ~3.6 MB to every process
(it imports rich and pygments for its console renderer), and every log call in the code
base already goes through ``logging.getLogger``. Attach fields with
``log.info("message", extra={"fields": {"board": "b"}})``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, ClassVar, Literal, Protocol

from imageboard.observability.tracing import current_trace_ids

__all__ = [
    "ConsoleFormatter",
    "JsonFormatter",
    "bound",
    "configure_logging",
    "current_request_id",
    "request_id_var",
]

request_id_var: ContextVar[str | None] = ContextVar("imageboard_request_id", default=None)
_fields_var: ContextVar[Mapping[str, Any] | None] = ContextVar("imageboard_log_fields", default=None)
_HANDLER_MARK = "_imageboard_handler"


class LoggingSettings(Protocol):
    @property
    def environment(self) -> str: ...

    @property
    def log_format(self) -> str: ...

    @property
    def log_level(self) -> str: ...


def current_request_id() -> str | None:
    return request_id_var.get()


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields to every record logged inside the block (in this task)."""
    token = _fields_var.set({**(_fields_var.get() or {}), **fields})
    try:
        yield
    finally:
        _fields_var.reset(token)


def _context(record: logging.LogRecord) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    request_id = getattr(record, "request_id", None) or request_id_var.get()
    if request_id:
        doc["http.request.id"] = request_id
    ids = current_trace_ids()
    if ids is not None:
        doc["trace.id"], doc["span.id"] = ids
    doc.update(_fields_var.get() or {})
    fields = getattr(record, "fields", None)
    if isinstance(fields, Mapping):
        doc.update(fields)
    return doc


class JsonFormatter(logging.Formatter):
    """One JSON object per line, ECS field names."""

    def __init__(self, *, service: str = "imageboard", environment: str = "") -> None:
        super().__init__()
        self.static = {"service.name": service, **({"service.environment": environment} if environment else {})}

    def format(self, record: logging.LogRecord) -> str:
        created = time.gmtime(record.created)
        doc: dict[str, Any] = {
            "@timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", created) + f".{int(record.msecs):03d}Z",
            "log.level": record.levelname.lower(),
            "log.logger": record.name,
            "message": record.getMessage(),
            **self.static,
            "process.pid": record.process,
        }
        doc.update(_context(record))
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            doc["error.type"] = exc_type.__name__
            doc["error.message"] = str(exc)
            doc["error.stack_trace"] = "".join(traceback.format_exception(exc_type, exc, tb))
        elif record.stack_info:
            doc["error.stack_trace"] = record.stack_info
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str)


class ConsoleFormatter(logging.Formatter):
    """``12:00:01.234 INFO  imageboard.access  GET / 200  duration_ms=3.1 rid=1a2b…``"""

    COLOURS: ClassVar[dict[str, str]] = {
        "DEBUG": "\x1b[2m",
        "INFO": "\x1b[32m",
        "WARNING": "\x1b[33m",
        "ERROR": "\x1b[31m",
        "CRITICAL": "\x1b[41m",
    }

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created)) + f".{int(record.msecs):03d}"
        level = f"{record.levelname:<7}"
        if self.colour:
            level = f"{self.COLOURS.get(record.levelname, '')}{level}\x1b[0m"
        context = _context(record)
        short = {"http.request.id": "rid", "trace.id": "trace", "span.id": "span"}
        extras = " ".join(f"{short.get(key, key)}={value}" for key, value in context.items())
        line = f"{stamp} {level} {record.name}  {record.getMessage()}" + (f"  {extras}" if extras else "")
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(
    settings: LoggingSettings, *, service: str = "imageboard", stream: Any = None
) -> Literal["json", "console"]:
    """Send every logger's records to one handler on standard output in the chosen format.

    ``log_format`` ``auto`` means console lines in development and JSON in production.
    Uvicorn's own access log is switched off: the request middleware writes a better one
    (request ID, route, duration; no client address unless ``IMAGEBOARD_LOG_IPS``).
    Safe to call more than once (the serve command and the app factory both do).
    """
    chosen: Literal["json", "console"]
    if settings.log_format in ("json", "console"):
        chosen = "json" if settings.log_format == "json" else "console"
    else:
        chosen = "console" if settings.environment == "development" else "json"
    out = stream if stream is not None else sys.stdout
    formatter: logging.Formatter
    if chosen == "json":
        formatter = JsonFormatter(service=service, environment=settings.environment)
    else:
        formatter = ConsoleFormatter(colour=bool(getattr(out, "isatty", lambda: False)()))
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper() if settings.log_level else "INFO")
    for name in ("uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True
    return chosen

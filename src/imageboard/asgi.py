"""Entry point for ASGI servers: ``uvicorn --factory imageboard.asgi:application``."""

from __future__ import annotations

from fastapi import FastAPI

from imageboard.app import create_app
from imageboard.config import load_settings
from imageboard.core.heap import freeze_startup_objects


def application() -> FastAPI:
    app = create_app(load_settings())
    freeze_startup_objects()
    return app

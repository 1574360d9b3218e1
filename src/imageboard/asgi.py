"""Entry point for ASGI servers: ``uvicorn --factory imageboard.asgi:application``."""

from __future__ import annotations

from fastapi import FastAPI

from imageboard.app import create_app
from imageboard.config import load_settings


def application() -> FastAPI:
    return create_app(load_settings())

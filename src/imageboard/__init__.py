"""An anonymous imageboard: boards, threads, posts, media, moderation and public APIs."""

__version__ = "0.1.0"

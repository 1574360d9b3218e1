"""Errors of the moderation context (mapped to responses by the app's DomainError handler)."""

from __future__ import annotations

from imageboard.accounts import Actor, Permission
from imageboard.core.errors import Forbidden


class MissingPermission(Forbidden):
    code = "missing_permission"


class Banned(Forbidden):
    """The poster's address is banned here. HTML requests get the ban page itself."""

    code = "banned"


class Warned(Forbidden):
    code = "warned"


class FileBanned(Forbidden):
    code = "file_banned"


def require(actor: Actor, permission: Permission, board: str | None) -> None:
    """Refuse, naming the permission, unless ``actor`` holds it on ``board`` (None: site-wide)."""
    if not actor.can(permission, board):
        where = f"on /{board}/" if board is not None else "site-wide"
        raise MissingPermission(
            f"You need the '{permission.value}' permission {where} to do this.", code="missing_permission"
        )


def require_any(actor: Actor, permissions: tuple[Permission, ...], board: str | None) -> None:
    if not any(actor.can(p, board) for p in permissions):
        require(actor, permissions[0], board)

"""Staff accounts, roles and permissions, sessions and two-factor sign-in."""

from imageboard.accounts.permissions import (
    BOARD_ROLE_PERMISSIONS,
    SITE_ROLE_PERMISSIONS,
    Actor,
    BoardRole,
    Permission,
    SiteRole,
    permission_table,
    roles_in_order,
)
from imageboard.accounts.schemas import SessionInfo, SignIn, UserView
from imageboard.accounts.service import AccountsService

__all__ = [
    "BOARD_ROLE_PERMISSIONS",
    "SITE_ROLE_PERMISSIONS",
    "AccountsService",
    "Actor",
    "BoardRole",
    "Permission",
    "SessionInfo",
    "SignIn",
    "SiteRole",
    "UserView",
    "permission_table",
    "roles_in_order",
]

"""Who may do what: the one permission table of the site.

Site roles act on every board; board roles only on their board. A site admin may do
everything. The same table is printed in docs/permissions.md (a test keeps the two equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SiteRole(StrEnum):
    ADMIN = "admin"
    GLOBAL_MODERATOR = "global_moderator"
    GLOBAL_JANITOR = "global_janitor"


class BoardRole(StrEnum):
    OWNER = "owner"
    MODERATOR = "moderator"
    JANITOR = "janitor"


class Permission(StrEnum):
    VIEW_REPORTS = "view_reports"
    DISMISS_REPORTS = "dismiss_reports"
    DELETE_POST = "delete_post"
    DELETE_FILE = "delete_file"
    SPOILER_FILE = "spoiler_file"
    DELETE_BY_POSTER = "delete_by_poster"
    STICKY = "sticky"
    LOCK = "lock"
    CYCLIC = "cyclic"
    MOVE_THREAD = "move_thread"
    EDIT_POST = "edit_post"
    APPROVE_POSTS = "approve_posts"
    WARN = "warn"
    BAN = "ban"
    HANDLE_APPEALS = "handle_appeals"
    VIEW_IP = "view_ip"
    VIEW_IP_MASKED = "view_ip_masked"
    MANAGE_FILTERS = "manage_filters"
    EDIT_BOARD = "edit_board"
    MANAGE_BOARD_STAFF = "manage_board_staff"
    POST_CAPCODE = "post_capcode"
    VIEW_MOD_LOG_NAMES = "view_mod_log_names"
    MANAGE_USERS = "manage_users"
    CREATE_ANY_BOARD = "create_any_board"


_JANITOR = {
    Permission.VIEW_REPORTS,
    Permission.DISMISS_REPORTS,
    Permission.DELETE_POST,
    Permission.DELETE_FILE,
    Permission.SPOILER_FILE,
    Permission.APPROVE_POSTS,
    Permission.VIEW_IP_MASKED,
    Permission.VIEW_MOD_LOG_NAMES,
}
_MODERATOR = _JANITOR | {
    Permission.DELETE_BY_POSTER,
    Permission.STICKY,
    Permission.LOCK,
    Permission.CYCLIC,
    Permission.MOVE_THREAD,
    Permission.EDIT_POST,
    Permission.WARN,
    Permission.BAN,
    Permission.HANDLE_APPEALS,
    Permission.VIEW_IP,
    Permission.MANAGE_FILTERS,
    Permission.POST_CAPCODE,
}
_OWNER = _MODERATOR | {Permission.EDIT_BOARD, Permission.MANAGE_BOARD_STAFF}

SITE_ROLE_PERMISSIONS: dict[SiteRole, frozenset[Permission]] = {
    SiteRole.ADMIN: frozenset(Permission),
    SiteRole.GLOBAL_MODERATOR: frozenset(_MODERATOR),
    SiteRole.GLOBAL_JANITOR: frozenset(_JANITOR),
}
BOARD_ROLE_PERMISSIONS: dict[BoardRole, frozenset[Permission]] = {
    BoardRole.OWNER: frozenset(_OWNER),
    BoardRole.MODERATOR: frozenset(_MODERATOR),
    BoardRole.JANITOR: frozenset(_JANITOR),
}
# Site roles whose holders must use two-factor authentication to sign in.
TWO_FACTOR_REQUIRED = frozenset(SiteRole)


@dataclass(frozen=True, slots=True)
class Actor:
    """A signed-in staff member as the permission check sees them."""

    user_id: int
    username: str
    site_role: SiteRole | None = None
    board_roles: dict[str, BoardRole] = field(default_factory=dict)

    def can(self, permission: Permission, board: str | None = None) -> bool:
        """``board`` None asks for the permission site-wide (only site roles grant that)."""
        if self.site_role is not None and permission in SITE_ROLE_PERMISSIONS[self.site_role]:
            return True
        if board is None:
            return False
        role = self.board_roles.get(board)
        return role is not None and permission in BOARD_ROLE_PERMISSIONS[role]

    def capcode(self, board: str) -> str | None:
        """The capcode this actor may post with on ``board``."""
        if self.site_role is SiteRole.ADMIN:
            return "admin"
        if self.site_role is SiteRole.GLOBAL_MODERATOR:
            return "mod"
        role = self.board_roles.get(board)
        if role is BoardRole.OWNER:
            return "owner"
        if role is BoardRole.MODERATOR:
            return "mod"
        return None

    @property
    def is_staff_anywhere(self) -> bool:
        return self.site_role is not None or bool(self.board_roles)


def permission_table() -> list[tuple[str, list[bool]]]:
    """Rows of (permission, granted per role) in the order of ``roles_in_order()``."""
    roles = roles_in_order()
    table = {
        **{r.value: SITE_ROLE_PERMISSIONS[r] for r in SiteRole},
        **{r.value: BOARD_ROLE_PERMISSIONS[r] for r in BoardRole},
    }
    return [(p.value, [p in table[role] for role in roles]) for p in Permission]


def roles_in_order() -> list[str]:
    return [*(r.value for r in SiteRole), *(f"{r.value}" for r in BoardRole)]

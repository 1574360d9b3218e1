"""Operator tasks that are not part of serving the site: backups and restores of the
embedded default (SQLite database, media directory, server secret)."""

from imageboard.ops.backup import BackupError, BackupResult, RestoreResult, create_backup, restore_backup

__all__ = ["BackupError", "BackupResult", "RestoreResult", "create_backup", "restore_backup"]

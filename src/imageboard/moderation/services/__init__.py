"""Use cases of the moderation context, one module per group of staff work."""

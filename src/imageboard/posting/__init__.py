"""Submitting a post: the one path from a form or API request to a stored post, through the
anti-spam checks, the media pipeline and the boards context."""

from imageboard.posting.service import PostingService, Submission, Submitted

__all__ = ["PostingService", "Submission", "Submitted"]

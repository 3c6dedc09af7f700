"""Limits of the renderings that the commands' options name (kept apart from the renderers,
so that a command can declare its options without importing them)."""

from __future__ import annotations

MARKDOWN_LIMIT = 60_000  # characters of a GitHub comment

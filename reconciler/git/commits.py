"""What git reports of a commit and of a file's change in it, as data (pure: reader.py runs
git and makes these; views/history.py reads them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Commit:
    """One commit as history shows it."""

    sha: str
    date: str  # author date, ISO 8601
    author: str
    subject: str
    parents: tuple[str, ...] = ()
    timestamp: int = 0  # committer time, for ordering

    @property
    def short(self) -> str:
        return self.sha[:10]


@dataclass(frozen=True)
class FileChange:
    """A commit that changed a file: its git status (A, M, R, C, D, T) and its paths before
    and after."""

    commit: Commit
    status: str
    path: str
    old_path: str | None

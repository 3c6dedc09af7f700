"""A git repository around a reconciler repository, with commits at set times: for the tests
of what is read out of git (`history`, the report's recent history)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from factories import Repo, settle


class Git:
    """A git repository around a reconciler repository, with commits at set times."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clock = 1_700_000_000
        self.run("init", "-q", "-b", "main")

    def run(self, *args: str) -> str:
        environ = {
            "GIT_AUTHOR_NAME": "Ada Reviewer",
            "GIT_AUTHOR_EMAIL": "ada@example.org",
            "GIT_COMMITTER_NAME": "Ada Reviewer",
            "GIT_COMMITTER_EMAIL": "ada@example.org",
            "GIT_AUTHOR_DATE": f"{self.clock} +0000",
            "GIT_COMMITTER_DATE": f"{self.clock} +0000",
            "PATH": "/usr/bin:/bin:/usr/local/bin",
            "HOME": str(self.root),
        }
        done = subprocess.run(
            ["git", "-C", str(self.root), *args],
            env=environ,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def commit(self, message: str) -> str:
        self.clock += 3600
        self.run("add", "-A")
        self.run("commit", "-q", "-m", message)
        return self.run("rev-parse", "HEAD").strip()


def apply_to(made: Repo, env: str, commit: str) -> None:
    """Record every change of a fresh plan in the environment's ledger, from `commit`."""
    settle(made.workspace(env), commit=commit)

"""What the reconciler reads of git: the commit a record was applied from."""

from __future__ import annotations

import subprocess
from pathlib import Path


def head_commit(repo: Path) -> str | None:
    """The repository's HEAD commit, recorded with each applied record (None outside git)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None

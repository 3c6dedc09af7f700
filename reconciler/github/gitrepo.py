"""The git a workflow step needs: the checkout's history and a push as the workflow's bot."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from reconciler.errors import ReconcilerError
from reconciler.kinds import KINDS

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
SETTINGS_FILE = "reconciler.yaml"


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git in `repo`, committing as the workflow's bot."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": BOT_NAME,
        "GIT_AUTHOR_EMAIL": BOT_EMAIL,
        "GIT_COMMITTER_NAME": BOT_NAME,
        "GIT_COMMITTER_EMAIL": BOT_EMAIL,
    }
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )


def record_paths() -> list[str]:
    """What decides a plan, as git paths: each kind's folder and the settings file."""
    return [kind.folder for kind in KINDS.values()] + [SETTINGS_FILE]


def records_commit(repo: Path, commit: str) -> str:
    """The newest commit on `commit`'s first-parent line (main's own history: merges, not the
    branches merged) that changed records or settings; `commit` itself when none did or git
    cannot tell. The sync's ledger commits are skipped, so a run by hand on main finds the
    merge whose plan was reviewed."""
    done = git(repo, "log", "-1", "--first-parent", "--format=%H", commit, "--", *record_paths())
    found = done.stdout.strip()
    return found if done.returncode == 0 and found else commit


def records_differ(repo: Path, commit: str, head: str = "HEAD") -> bool:
    """Whether the records or settings at `head` differ from those at `commit` (the files, not
    the history: a change made and undone counts as none)."""
    done = git(repo, "diff", "--quiet", commit, head, "--", *record_paths())
    if done.returncode not in (0, 1):
        raise ReconcilerError(
            f"git cannot compare the records of {commit[:12]} with {head}: "
            f"{done.stderr.strip()} (check out main with its whole history: actions/checkout "
            "with ref: main and fetch-depth: 0)"
        )
    return done.returncode == 1


def changed_paths(repo: Path, base: str, head: str, paths: list[str]) -> list[str]:
    """The files under `paths` that `head` changes since it left `base` (base...head: a change
    that `base`'s branch made since is not counted)."""
    done = git(repo, "diff", "--name-only", f"{base}...{head}", "--", *paths)
    if done.returncode != 0:
        raise ReconcilerError(
            f"git cannot compare {base[:12]}...{head[:12]}: {done.stderr.strip()} (check out the "
            "whole history: actions/checkout with fetch-depth: 0)"
        )
    return [line for line in done.stdout.splitlines() if line]

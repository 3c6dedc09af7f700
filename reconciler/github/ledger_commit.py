"""The sync's last step for an environment: commit its ledger and push it to main, rebasing
onto commits that landed meanwhile, also when the apply failed (the ledger holds what was
applied, so that the next run neither repeats nor skips a call)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.github.gitrepo import git

ATTEMPTS = 5


@dataclass
class LedgerCommit:
    """What happened: `ok`, and the lines for the log (annotations included)."""

    ok: bool = True
    lines: list[str] = field(default_factory=list)


def commit_ledger(
    repo: Path,
    ledger: str,
    *,
    environment: str,
    applied: str,
    apply_code: str,
    branch: str = "main",
    sleep: Callable[[float], None] = time.sleep,
) -> LedgerCommit:
    """Commit `ledger` (relative to `repo`) as the bot with `[skip ci]`, and push it to
    `branch`, rebasing up to ATTEMPTS times when the branch moved on."""
    done = LedgerCommit()
    if not git(repo, "status", "--porcelain", "--", ledger).stdout.strip():
        done.lines.append(f"The {environment} ledger did not change: nothing to commit.")
        return done
    message = f"ledger: {environment} after applying {applied[:12]}"
    if apply_code != "0":
        message += f" (apply failed: exit {apply_code or 'none'})"
    for args in (("add", "--", ledger), ("commit", "--quiet", "-m", f"{message} [skip ci]")):
        step = git(repo, *args)
        if step.returncode != 0:
            return _failed(done, f"git {args[0]} failed: {step.stderr.strip()}")
    for attempt in range(1, ATTEMPTS + 1):
        if git(repo, "push", "--quiet", "origin", f"HEAD:{branch}").returncode == 0:
            short = git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
            done.lines.append(f"Committed {ledger} to {branch} as {short}.")
            return done
        done.lines.append(
            f"{branch} moved on: rebasing the ledger commit onto it (attempt {attempt} of "
            f"{ATTEMPTS})."
        )
        sleep(attempt)
        if git(repo, "pull", "--rebase", "--quiet", "origin", branch).returncode != 0:
            git(repo, "rebase", "--abort")
            return _failed(
                done,
                f"{ledger} conflicts with {branch}. The applied changes are recorded only in "
                f"this run's log; run reconciler import --from-files --env {environment} to "
                "recover them.",
            )
    return _failed(done, f"could not push {ledger} to {branch} after {ATTEMPTS} attempts.")


def _failed(done: LedgerCommit, why: str) -> LedgerCommit:
    done.ok = False
    done.lines.append(f"::error title=Ledger not committed::{why}")
    return done

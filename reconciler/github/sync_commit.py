"""The sync's last step for an environment: commit its ledger, with its audit trail in the same
commit, and push it to main, rebasing onto commits that landed meanwhile, also when the apply
failed (the ledger holds what was applied, so that the next run neither repeats nor skips a
call; the trail, who applied it and on whose approval)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.audit.trail import AuditTrail
from reconciler.errors import AuditError
from reconciler.github.gitrepo import git

ATTEMPTS = 5


@dataclass
class SyncCommit:
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
    trail: AuditTrail | None = None,
    branch: str = "main",
    sleep: Callable[[float], None] = time.sleep,
) -> SyncCommit:
    """Commit `ledger` (relative to `repo`) and the audit `trail` (its `shown` path relative to
    `repo`; an append that was interrupted is written out first) as the bot with `[skip ci]`,
    and push it to `branch`, rebasing up to ATTEMPTS times when the branch moved on. The
    caller holds the environment's lock. A trail that cannot be settled is left out, and the
    step fails after committing the ledger."""
    done = SyncCommit()
    paths = [ledger, *_settled(trail, done)]
    if not git(repo, "status", "--porcelain", "--", *paths).stdout.strip():
        done.lines.append(
            f"The {environment} ledger and audit trail did not change: nothing to commit."
        )
        return done
    ledger_changed = bool(git(repo, "status", "--porcelain", "--", ledger).stdout.strip())
    what = "ledger" if ledger_changed else "audit"
    if not apply_code and not ledger_changed:
        # The review check refused the sync: apply never ran, and the trail says so.
        message = f"audit: {environment}: the sync of {applied[:12]} was refused"
    else:
        message = f"{what}: {environment} after applying {applied[:12]}"
        if apply_code != "0":
            message += f" (apply failed: exit {apply_code or 'none'})"
    for args in (("add", "--", *paths), ("commit", "--quiet", "-m", f"{message} [skip ci]")):
        step = git(repo, *args)
        if step.returncode != 0:
            return _failed(done, f"git {args[0]} failed: {step.stderr.strip()}")
    for attempt in range(1, ATTEMPTS + 1):
        if git(repo, "push", "--quiet", "origin", f"HEAD:{branch}").returncode == 0:
            short = git(repo, "rev-parse", "--short", "HEAD").stdout.strip()
            done.lines.append(f"Committed {' and '.join(paths)} to {branch} as {short}.")
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


def _settled(trail: AuditTrail | None, done: SyncCommit) -> list[str]:
    """The trail's path to commit, once an append that was interrupted is written out; none
    when there is no trail, or it cannot be settled (then `done` fails, saying why)."""
    if trail is None:
        return []
    try:
        trail.prepare()
    except AuditError as exc:
        done.ok = False
        done.lines.append(f"::error title=Audit trail not committed::{exc}")
        return []
    return [trail.shown] if trail.path.exists() else []


def _failed(done: SyncCommit, why: str) -> SyncCommit:
    done.ok = False
    done.lines.append(f"::error title=Ledger not committed::{why}")
    return done

"""An apply's result in words: the summary line (its counts are the ledger's), the read-back's
line, and a line for each record that did not get its change or was not seen to get it. Also
what `verify` prints. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.kinds import oid_keys
from reconciler.model import split_key
from reconciler.render.drift import FINDING_TEXT
from reconciler.render.plan import field_line

if TYPE_CHECKING:
    from reconciler.engine.result import Outcome, Result, Unverified, Verification
    from reconciler.reconcile.apply import Applied

NO_CHANGES = "No changes: the directory matches the files. Nothing to apply."
DECLINED = "Apply cancelled: nothing was sent."
VERIFICATION_OFF = "Not verified: verification is off."
REFUSED = "refused: created elsewhere"


def apply_summary(result: Result) -> str:
    """One line: what was applied, failed, refused as created elsewhere, skipped, (when
    stopped) not started and left in flight, then how long it took."""
    done = result.count("applied") + result.count("adopted") + result.count("overwritten")
    refused = result.count("refused")
    counts = (
        f"{done} applied ({result.count('adopted')} already in the directory), "
        f"{result.count('failed')} failed, "
        + (f"{refused} {REFUSED}, " if refused else "")
        + f"{result.count('skipped')} skipped"
    )
    left = result.intents_left
    settle = f"; {left} intent{'' if left == 1 else 's'} left for the next apply to settle"
    took = f" Took {duration(result.elapsed)}." if result.elapsed is not None else ""
    if not result.interrupted:
        return f"Apply complete: {counts}{settle if left else ''}.{took}"
    return (
        f"Interrupted: {counts}, {result.count('not_started')} not started, "
        f"{result.count('in_flight')} in flight when stopped{settle}.{took}"
    )


def render_applied(applied: Applied) -> str:
    """What `apply` prints once it has run: the summary, the read-back's line, then each record
    that was refused, failed, was skipped or was not seen in the directory, with why."""
    if applied.status == "no_changes":
        return NO_CHANGES + "\n"
    if applied.status == "declined":
        return DECLINED + "\n"
    result = applied.result
    if applied.plan is None:
        return (
            "Interrupted before the plan was carried out: nothing was sent. "
            f"{result.intents_left} intent(s) left for the next apply to settle.\n"
        )
    env = applied.plan.environment
    sources = {c.key: c.source for c in applied.plan.changes}
    lines = [apply_summary(result)]
    if result.verification is not None:
        lines += verification_lines(result.verification, env)
    for o in result.outcomes:
        if o.status == "refused":
            lines.append(refused_line(o, env, sources.get(o.key)))
        elif o.status in {"failed", "skipped"}:
            lines.append(f"  {o.status}: {o.action} {o.key}: {o.message}{log_note(o)}")
    return "\n".join(lines) + "\n"


def log_note(outcome: Outcome) -> str:
    """` (Redox log ID: …)`, what Redox support asks for, when Redox answered."""
    return f" (Redox log ID: {outcome.redox_log_id})" if outcome.redox_log_id else ""


def refused_line(outcome: Outcome, env: str, source: str | None) -> str:
    """Why a Create answered "already exists" sent nothing, and the ways forward."""
    existing = outcome.existing
    identity = split_key(outcome.key)[1]
    where = f" ({source})" if source else ""
    head = f"  {REFUSED}: {outcome.action} {outcome.key}{where}: "
    if existing is not None and existing.foreign:
        manager = (
            f"is managed by {existing.managed_by!r} in the directory"
            if existing.managed_by
            else "is not shown as managed by anyone in the directory"
            if existing.visible
            else "already exists, but a query does not show who manages it"
        )
        return (
            f"{head}{identity} {manager}, not by your managing_org (reconciler.yaml): it is never "
            f"overwritten or imported, and nothing was sent{log_note(outcome)}. Check the "
            f"identity in the file: it is most likely another organization's."
        )
    if existing is not None and not existing.visible:
        held = "Redox says it already exists, though a query does not show it yet"
    elif existing is not None and existing.fields:
        held = f"already in the directory with other content ({', '.join(existing.fields)})"
    else:
        held = "already in the directory with other content"
    # `import --oid` names organizations; a record of another kind is adopted from its file.
    by_oid = oid_keys([identity]) == [outcome.key]
    which = f"--oid {identity}" if by_oid else "--from-files"
    adopt = f"reconciler import --env {env} {which}"
    return (
        f"{head}{held}, and this tool did not create it: nothing was sent{log_note(outcome)}. "
        f"To keep the directory's version, adopt it into the ledger with `{adopt}`; to "
        f"overwrite it with the file's, run `reconciler apply --env {env} --adopt-existing`."
    )


def verification_lines(verification: Verification, env: str) -> list[str]:
    """`Verified: N of M.` (or why not), then each record not seen as applied, with its
    fields: as applied -> as the directory shows it."""
    if verification.state == "off":
        return [VERIFICATION_OFF]
    if not verification.checked:
        return []  # nothing was changed: nothing to read back
    again = f"`reconciler verify --env {env}`"
    if verification.state == "stopped":
        left = verification.left
        records = f"{left} record{'' if left == 1 else 's'}"
        head = (
            f"Verified: {verification.verified} of {verification.checked} before the apply was "
            "interrupted"
            if verification.verified or verification.unverified
            else "Not verified: the apply was interrupted, so nothing was read back"
        )
        lines = [
            f"{head}; {records} it changed {'is' if left == 1 else 'are'} left "
            f"unverified: {again} reads them back."
        ]
    else:
        lines = [f"Verified: {verification.verified} of {verification.checked}."]
    lines += unverified_lines(verification.unverified, waited=verification.timeout)
    if verification.unverified:
        lines.append(
            "  Redox accepted these changes, so the ledger keeps them (the next plan does not "
            f"send them again) and marks them unverified (`reconciler status`); {again} checks "
            "them again once the directory has caught up."
        )
    return lines


def unverified_lines(found: tuple[Unverified, ...], *, waited: float = 0.0) -> list[str]:
    """One line per record not shown as applied, then its fields (as applied -> as the
    directory shows it)."""
    after = f" after {waited:g}s" if waited else ""
    lines: list[str] = []
    for u in found:
        if u.drift is None:
            lines.append(f"  unverified: {u.key}: could not be read back: {u.error}")
            continue
        where = f" ({u.drift.source})" if u.drift.source else ""
        shown = FINDING_TEXT[u.drift.finding.value]
        lines.append(f"  unverified: {u.key}{where}: {shown}{after}")
        lines.extend(f"      {field_line(f)}" for f in u.drift.fields)
    return lines


def render_verified(verification: Verification, env: str, *, every: bool) -> str:
    """What `verify` prints: `Verified: N of M.` and each record still not seen as applied."""
    if not verification.checked:
        which = "ledgered" if every else "unverified"
        return f"Nothing to verify: no record of {env} is {which}.\n"
    lines = [f"Verified: {verification.verified} of {verification.checked}."]
    lines += unverified_lines(verification.unverified)
    if verification.unverified:
        lines.append(
            "  The ledger marks these unverified. When a change never shows, see what the "
            f"directory holds with `reconciler drift --env {env}` and repair it with "
            f"`reconciler apply --env {env} --refresh`."
        )
    return "\n".join(lines) + "\n"


def duration(seconds: float) -> str:
    """1.5s, 2m05s."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"

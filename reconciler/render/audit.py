"""What `audit show` and `audit verify` print: the trail as text, JSON or CSV (for a
spreadsheet), and what verification found."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only their attributes are read: `plan` and `validate` need not build them
    from reconciler.audit import AuditEntry, Verification

# The CSV's columns: the entry's, then one call's (one row per call).
CSV_COLUMNS = (
    "seq",
    "time",
    "environment",
    "actor",
    "via",
    "commit",
    "pull_request",
    "approved_by",
    "plan_digest",
    "policy_overrides",
    "result",
    "key",
    "action",
    "status",
    "redox_log_id",
    "prev",
    "hash",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _plain(text: str) -> str:
    """`text` safe for a terminal: control characters written as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def render_audit_text(
    entries: Sequence[AuditEntry], *, environment: str, trail: str, since: str | None = None
) -> str:
    """Each entry: when, how it ended, who applied it and on whose approval, then its calls."""
    after = f" since {since}" if since else ""
    count = len(entries)
    lines = [
        f"Audit trail of {environment} ({trail}): {count} entr{'y' if count == 1 else 'ies'}"
        f"{after}."
    ]
    for entry in entries:
        lines.append("")
        lines.append(
            f"#{entry.seq}  {entry.time}  {entry.result}  by {_plain(entry.actor)} ({entry.via})"
        )
        facts = []
        if entry.commit:
            facts.append(f"commit {entry.commit[:12]}")
        if entry.pull_request is not None:
            facts.append(f"pull request #{entry.pull_request}")
        if entry.approved_by:
            facts.append("approved by " + ", ".join(_plain(a) for a in entry.approved_by))
        if facts:
            lines.append("    " + ", ".join(facts))
        if entry.plan_digest:
            lines.append(f"    plan {entry.plan_digest}")
        if entry.policy_overrides:
            overrides = ", ".join(_plain(p) for p in entry.policy_overrides)
            lines.append(f"    policies overridden: {overrides}")
        for call in entry.calls:
            log = f"  Redox log {_plain(call.redox_log_id)}" if call.redox_log_id else ""
            lines.append(f"    {call.action} {_plain(call.key)}: {call.status}{log}")
        if not entry.calls:
            lines.append("    no call was sent")
    if entries:
        lines.append("")
        lines.append(
            f"Last hash: {entries[-1].hash} (keep it: `reconciler audit verify --env "
            f"{environment} --anchor {entries[-1].hash}` later shows that the trail still "
            "holds this line)."
        )
    return "\n".join(lines) + "\n"


def audit_document(
    entries: Iterable[AuditEntry], *, environment: str, trail: str, since: str | None = None
) -> dict[str, Any]:
    """`audit show --format json`: the entries as the trail holds them."""
    return {
        "environment": environment,
        "trail": trail,
        "since": since,
        "entries": [entry.document() for entry in entries],
    }


def render_audit_csv(entries: Iterable[AuditEntry]) -> str:
    """`audit show --format csv`: one row per call, each with its entry's columns (an entry
    that sent no call, such as a refused apply, is one row with empty call columns). Lists
    are joined with "; "; a cell a spreadsheet would run as a formula starts with ', and
    control characters are written as escapes (\x1b), as on a terminal."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        common = {
            "seq": entry.seq,
            "time": entry.time,
            "environment": entry.environment,
            "actor": entry.actor,
            "via": entry.via,
            "commit": entry.commit or "",
            "pull_request": "" if entry.pull_request is None else entry.pull_request,
            "approved_by": "; ".join(entry.approved_by),
            "plan_digest": entry.plan_digest or "",
            "policy_overrides": "; ".join(entry.policy_overrides),
            "result": entry.result,
            "prev": entry.prev,
            "hash": entry.hash,
        }
        calls = [
            {
                "key": c.key,
                "action": c.action,
                "status": c.status,
                "redox_log_id": c.redox_log_id or "",
            }
            for c in entry.calls
        ] or [{"key": "", "action": "", "status": "", "redox_log_id": ""}]
        for call in calls:
            row = {**common, **call}
            writer.writerow([_cell(row[column]) for column in CSV_COLUMNS])
    return out.getvalue()


def _cell(value: object) -> object:
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_START):
        value = "'" + value
    return _plain(value)


def render_verification(found: Verification) -> str:
    """What `audit verify` found: the chain, the committed versions, the anchors, notes."""
    trail = found.trail
    lines: list[str] = []
    if found.bad_line is not None:
        bad = found.bad_line
        sound = found.lines
        lines.append(f"{trail}, line {bad.number}: {bad.message}")
        lines.append(
            f"  The {sound:,} line{'s' if sound != 1 else ''} before it "
            f"{'are' if sound != 1 else 'is'} sound; nothing from line {bad.number} on can be "
            "vouched for."
        )
    else:
        count = found.lines
        lines.append(
            f"{trail}: {count:,} line{'s' if count != 1 else ''}, each chained to the one before."
            + (f" Last hash: {found.last_hash}." if count else "")
        )
    if found.bad_version is not None:
        bad_version = found.bad_version
        if bad_version.commit:
            lines.append(
                f"{trail}: the version committed in {bad_version.commit[:12]} "
                f"({bad_version.date[:10]}, {_plain(bad_version.subject)!r}) does not extend "
                f"the version committed before it in {bad_version.previous[:12]}: it "
                f"{bad_version.message}. The trail is only ever appended to, so that commit "
                f"rewrote its history (`git show {bad_version.commit[:12]} -- {trail}` shows "
                "how)."
            )
        else:
            lines.append(
                f"{trail}: the file in the work tree does not extend the version committed in "
                f"{bad_version.previous[:12]}: it {bad_version.message}. `git diff -- {trail}` "
                f"shows the change; `git checkout -- {trail}` restores the committed file."
            )
    elif found.commits:
        many = found.commits != 1
        lines.append(
            f"Git: {found.commits} committed version{'s' if many else ''} of it, "
            f"{'each extending the one before; ' if many else ''}the file extends the last."
        )
    for anchor in found.missing_anchors:
        lines.append(
            f"No line of {trail} has the hash {anchor}: this trail does not extend the one "
            "that hash was noted from (its history was rewritten, or the hash is of another "
            "environment's trail)."
        )
    lines.extend(found.notes)
    verdict = "Verified." if found.ok else "Not verified."
    lines.append(verdict)
    return "\n".join(lines) + "\n"


def verification_document(found: Verification) -> dict[str, Any]:
    """`audit verify --format json`."""
    return {
        "trail": found.trail,
        "environment": found.environment,
        "ok": found.ok,
        "lines": found.lines,
        "last_hash": found.last_hash,
        "bad_line": (
            {"line": found.bad_line.number, "message": found.bad_line.message}
            if found.bad_line
            else None
        ),
        "bad_version": (
            {
                "commit": found.bad_version.commit or None,
                "previous": found.bad_version.previous,
                "date": found.bad_version.date or None,
                "subject": found.bad_version.subject or None,
                "message": found.bad_version.message,
            }
            if found.bad_version
            else None
        ),
        "missing_anchors": list(found.missing_anchors),
        "commits": found.commits,
        "notes": list(found.notes),
    }

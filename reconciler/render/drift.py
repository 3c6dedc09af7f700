"""Drift reports: text, markdown (a job summary) and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.kinds import KINDS
from reconciler.render.plan import field_line, md_cell
from reconciler.views.drift import Drift, Part

FINDING_TEXT = {
    "missing": "missing from the directory",
    "deactivated": "deactivated in the directory",
    "reactivated": "active in the directory but inactive in the ledger",
    "different": "different in the directory",
}


def not_compared() -> dict[str, list[str]]:
    """Per kind, the fields a query never returns (so drift cannot compare them)."""
    return {name: list(k.hidden_fields) for name, k in KINDS.items() if k.hidden_fields}


def drift_note() -> str:
    """What drift compares and what it cannot."""
    hidden = "; ".join(
        f"{'an' if name[0] in 'aeiou' else 'a'} {name}'s {' and '.join(fields)}"
        for name, fields in not_compared().items()
    )
    note = "Compared: the fields a directory query returns."
    return f"{note} Not compared: {hidden} (a query never returns them)." if hidden else note


def drift_summary(drifts: Sequence[Drift], checked: int, *, part: Part | None = None) -> str:
    """`Drift: N of M records differ from the directory.`"""
    which = "checked" if part is not None and part.parts > 1 else "ledgered"
    if not drifts:
        return f"No drift: all {checked} {which} records match the directory."
    return f"Drift: {len(drifts)} of {checked} records differ from the directory."


def drift_scope(part: Part, checked: int, ledgered: int) -> str:
    """Which part of the ledger a rotating drift check queried (empty when it checked all)."""
    if part.parts == 1:
        return ""
    return (
        f"Checked part {part.index + 1} of {part.parts} (today's, by the UTC day): {checked} of "
        f"the {ledgered} ledgered records. Every record is checked once every {part.parts} days."
    )


def render_drift_text(
    drifts: Sequence[Drift],
    checked: int,
    environment: str,
    *,
    part: Part | None = None,
    ledgered: int = 0,
) -> str:
    """Drift for a terminal or a log."""
    lines = [f"Environment {environment}: {drift_note()}", ""]
    if part is not None and (scope := drift_scope(part, checked, ledgered)):
        lines[1:1] = [scope]
    for d in drifts:
        where = f"  ({d.source})" if d.source else ""
        lines.append(f"  ! {d.kind} {d.identity}: {FINDING_TEXT[d.finding.value]}{where}")
        lines.extend(f"      {field_line(f)}" for f in d.fields)
    if drifts:
        lines += [
            "",
            f"Repair it with `reconciler apply --refresh --env {environment}` (review it first "
            f"with `reconciler plan --refresh --env {environment}`).",
        ]
    lines.append(drift_summary(drifts, checked, part=part))
    return "\n".join(lines) + "\n"


def render_drift_markdown(
    drifts: Sequence[Drift],
    checked: int,
    environment: str,
    *,
    part: Part | None = None,
    ledgered: int = 0,
) -> str:
    """Drift for a job summary or an issue."""
    summary = drift_summary(drifts, checked, part=part)
    lines = [f"### reconciler drift: `{environment}`", "", f"**{summary}**"]
    if part is not None and (scope := drift_scope(part, checked, ledgered)):
        lines += ["", scope]
    if drifts:
        lines += ["", "| record | finding | file | fields |", "|---|---|---|---|"]
        for d in drifts:
            fields = ", ".join(f"`{f.path}`" for f in d.fields)
            lines.append(
                f"| `{d.identity}` | {FINDING_TEXT[d.finding.value]} | `{d.source or ''}` | "
                f"{md_cell(fields)} |"
            )
    lines += ["", f"_{drift_note()}_", ""]
    return "\n".join(lines)


def drift_document(
    drifts: Sequence[Drift],
    checked: int,
    environment: str,
    *,
    part: Part | None = None,
    ledgered: int | None = None,
) -> dict[str, Any]:
    """`drift --format json`. `part` and `parts`: the part checked (1-based) of how many; each
    record's `name` and `applied_at` are as last applied (the ledger's)."""
    part = part or Part(0, 1)
    return {
        "environment": environment,
        "checked": checked,
        "ledgered": checked if ledgered is None else ledgered,
        "part": part.index + 1,
        "parts": part.parts,
        "not_compared": not_compared(),
        "drift": [
            {
                "key": d.key,
                "kind": d.kind,
                "identity": d.identity,
                "name": d.name,
                "applied_at": d.applied_at or None,
                "finding": d.finding.value,
                "source": d.source,
                "fields": [
                    {"path": f.path, "ledger": f.before, "directory": f.after} for f in d.fields
                ],
            }
            for d in drifts
        ],
    }

"""Drift reports: text, markdown (a job summary) and JSON."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.drift import Drift
from reconciler.kinds import KINDS
from reconciler.render.plan import field_line, md_cell

_FINDING_TEXT = {
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


def drift_summary(drifts: Sequence[Drift], checked: int) -> str:
    """`Drift: N of M records differ from the directory.`"""
    if not drifts:
        return f"No drift: all {checked} ledgered records match the directory."
    return f"Drift: {len(drifts)} of {checked} records differ from the directory."


def render_drift_text(drifts: Sequence[Drift], checked: int, environment: str) -> str:
    """Drift for a terminal or a log."""
    lines = [f"Environment {environment}: {drift_note()}", ""]
    for d in drifts:
        where = f"  ({d.source})" if d.source else ""
        lines.append(f"  ! {d.kind} {d.identity}: {_FINDING_TEXT[d.finding.value]}{where}")
        lines.extend(f"      {field_line(f)}" for f in d.fields)
    if drifts:
        lines += [
            "",
            f"Repair it with `reconciler apply --refresh --env {environment}` (review it first "
            f"with `reconciler plan --refresh --env {environment}`).",
        ]
    lines.append(drift_summary(drifts, checked))
    return "\n".join(lines) + "\n"


def render_drift_markdown(drifts: Sequence[Drift], checked: int, environment: str) -> str:
    """Drift for a job summary or an issue."""
    lines = [f"### reconciler drift: `{environment}`", "", f"**{drift_summary(drifts, checked)}**"]
    if drifts:
        lines += ["", "| record | finding | file | fields |", "|---|---|---|---|"]
        for d in drifts:
            fields = ", ".join(f"`{f.path}`" for f in d.fields)
            lines.append(
                f"| `{d.identity}` | {_FINDING_TEXT[d.finding.value]} | `{d.source or ''}` | "
                f"{md_cell(fields)} |"
            )
    lines += ["", f"_{drift_note()}_", ""]
    return "\n".join(lines)


def drift_document(drifts: Sequence[Drift], checked: int, environment: str) -> dict[str, Any]:
    """`drift --format json`."""
    return {
        "environment": environment,
        "checked": checked,
        "not_compared": not_compared(),
        "drift": [
            {
                "key": d.key,
                "kind": d.kind,
                "identity": d.identity,
                "finding": d.finding.value,
                "source": d.source,
                "fields": [
                    {"path": f.path, "ledger": f.before, "directory": f.after} for f in d.fields
                ],
            }
            for d in drifts
        ],
    }

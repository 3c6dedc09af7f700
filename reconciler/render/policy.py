"""Policy results as text (the plan's `Policies` block), JSON (`"policies"`) and markdown (a
section of the plan comment), and the words of an apply that policies refuse. Pure."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from reconciler.policy.model import Level, PolicyResult, Violation

MARKDOWN_VIOLATIONS = 20  # listed per policy in a comment; the rest are counted
_LEVEL_WORDS = {
    Level.ADVISORY: "advisory: printed, applied anyway",
    Level.SOFT: "soft: blocks the apply unless overridden",
    Level.HARD: "hard: blocks the apply, no override",
}


def who_may_override(result: PolicyResult) -> str:
    """How a violated policy is let through, in a sentence."""
    if result.level is Level.HARD:
        return "No one may override it: change the records."
    if result.level is Level.ADVISORY:
        return "It does not block the apply."
    local = f"locally `reconciler apply --override-policy {result.name}`"
    if not result.approvers:
        return f"Override: {local} (it names no approvers, so no review overrides it in the sync)."
    names = _listed(result.approvers)
    return f"Override: {local}; in the sync, an approving review by {names}."


def _listed(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + f" or {names[-1]}"


def _violation(v: Violation) -> str:
    return f"{v.action} {v.key.split(':', 1)[0]} {v.identity}: {v.message}"


def policy_text(results: Sequence[PolicyResult], paint: Callable[[str, str], str]) -> list[str]:
    """The plan's `Policies` block (before its digest line); nothing when no policy applies."""
    if not results:
        return []
    broken = [r for r in results if r.violations]
    if not broken:
        count = len(results)
        return ["", f"Policies: {count} evaluated, none violated."]
    lines = ["", f"Policies: {len(broken)} of {len(results)} violated."]
    color = {Level.HARD: "31", Level.SOFT: "33", Level.ADVISORY: "36"}
    for result in broken:
        count = len(result.violations)
        head = f"  {result.level.value} policy {result.name}: {count} violation{_s(count)}"
        lines.append(paint(color[result.level], head))
        lines.append(f"      {who_may_override(result).replace('`', '')}")
        lines.extend(f"      {_violation(v)}" for v in result.violations)
    return lines


def policy_markdown(results: Sequence[PolicyResult]) -> list[str]:
    """The plan comment's policy section; nothing when no policy applies."""
    if not results:
        return []
    broken = [r for r in results if r.violations]
    if not broken:
        return [f"**Policies:** {len(results)} evaluated, none violated.", ""]
    lines = [f"#### Policies: {len(broken)} of {len(results)} violated", ""]
    alert = {Level.HARD: "CAUTION", Level.SOFT: "WARNING", Level.ADVISORY: "NOTE"}
    for result in broken:
        count = len(result.violations)
        lines += [
            f"> [!{alert[result.level]}]",
            f"> **{result.name}** ({_LEVEL_WORDS[result.level]}): {count} "
            f"violation{_s(count)}. {who_may_override(result)}",
            "",
            "| record | change | message |",
            "|---|---|---|",
        ]
        for v in result.violations[:MARKDOWN_VIOLATIONS]:
            lines.append(f"| `{v.identity}` | {v.action} | {_cell(v.message)} |")
        if count > MARKDOWN_VIOLATIONS:
            lines.append(f"\n_and {count - MARKDOWN_VIOLATIONS} more._")
        lines.append("")
    return lines


def policies_document(results: Sequence[PolicyResult]) -> list[dict[str, Any]]:
    """`"policies"` of the JSON plan: every policy evaluated, violations possibly empty."""
    return [
        {
            "name": r.name,
            "level": r.level.value,
            "approvers": list(r.approvers),
            "violations": [
                {"key": v.key, "identity": v.identity, "action": v.action, "message": v.message}
                for v in r.violations
            ],
        }
        for r in results
    ]


def refusal_text(environment: str, blocking: Sequence[PolicyResult]) -> str:
    """Why an apply refuses: each blocking policy, its records and messages, and the way on."""
    lines = [f"policies refuse this plan for {environment}, so nothing was sent:"]
    for result in blocking:
        lines.append(f"  {result.level.value} policy {result.name}:")
        lines.extend(f"    - {_violation(v)}" for v in result.violations)
        lines.append(f"    {who_may_override(result).replace('`', '')}")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _s(count: int) -> str:
    return "" if count == 1 else "s"


def policy_notes(results: Sequence[PolicyResult], overrides: Sequence[str]) -> list[str]:
    """What an apply says of the policies it let through: advisory violations and overrides."""
    notes: list[str] = []
    for result in results:
        if not result.violations:
            continue
        count = len(result.violations)
        if result.level is Level.ADVISORY:
            notes.append(f"Advisory policy {result.name}: {count} violation{_s(count)}, applied.")
        elif result.name in overrides:
            notes.append(
                f"Soft policy {result.name} overridden (--override-policy): {count} "
                f"violation{_s(count)} applied."
            )
    return notes

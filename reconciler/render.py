"""Text, markdown and JSON renderings of plans and problems, and GitHub annotations. Pure."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from reconciler.adopt import Adoption
from reconciler.drift import Drift
from reconciler.errors import Problem
from reconciler.jsontext import Streamed, iter_pretty_json, pretty_json, without_gc
from reconciler.kinds import KINDS, kind_of
from reconciler.ledger import Ledger
from reconciler.plan import PLAN_FORMAT, Action, Change, FieldChange, Plan, summary

MARKDOWN_LIMIT = 60_000
_SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DEACTIVATE: "-", Action.REACTIVATE: "^"}
_COLOR = {
    Action.CREATE: "32",
    Action.UPDATE: "33",
    Action.DEACTIVATE: "31",
    Action.REACTIVATE: "36",
}
_EMOJI = {
    Action.CREATE: "🟢 create",
    Action.UPDATE: "🟡 update",
    Action.DEACTIVATE: "🔴 deactivate",
    Action.REACTIVATE: "🔵 reactivate",
}


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _leaves(value: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """Every scalar of a payload with its path, for showing a create in full."""
    if isinstance(value, dict) and value:
        for key in value:
            yield from _leaves(value[key], f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{prefix}[{index}]")
    else:
        yield prefix, value


def _field_line(f: FieldChange) -> str:
    if f.added:
        return f"{f.path}: (none) -> {_value(f.after)}"
    if f.removed:
        return f"{f.path}: {_value(f.before)} -> (removed)"
    return f"{f.path}: {_value(f.before)} -> {_value(f.after)}"


def _detail_lines(change: Change) -> list[str]:
    if change.action == Action.CREATE:
        shown = {**change.envelope, **change.after}
        return [f"{path}: {_value(value)}" for path, value in _leaves(shown)]
    return [_field_line(f) for f in change.fields]


def _headline(change: Change) -> str:
    where = f"  ({change.source})" if change.source else ""
    return f"{change.action.value} {change.kind} {change.identity}  {change.name}{where}"


def render_text(plan: Plan, *, color: bool = False) -> str:
    """The plan for a terminal or a log; ends with the summary line."""

    def paint(code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    lines = [f"Environment {plan.environment} (ledger serial {plan.serial})"]
    if plan.refreshed:
        lines.append("Planned against the directory's records (--refresh).")
    lines.append("")
    if plan.empty:
        lines.append("No changes: the directory matches the files.")
    for change in plan.changes:
        code = _COLOR[change.action]
        lines.append(paint(code, f"  {_SYMBOL[change.action]} {_headline(change)}"))
        lines.extend(f"      {line}" for line in _detail_lines(change))
    for warning in plan.warnings:
        lines.append(paint("33", f"Warning: {warning}"))
    if plan.unsafe:
        lines.append("")
        lines.append(paint("31", f"Unsafe: {plan.unsafe}"))
    lines.append("")
    lines.append(paint("1", summary(plan)))
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    plan: Plan, *, limit: int = MARKDOWN_LIMIT, full_plan_at: str | None = None
) -> str:
    """The plan for a pull-request comment; beyond `limit` characters, a summary and a pointer."""
    head = [f"### reconciler plan: `{plan.environment}`", ""]
    if plan.unsafe:
        head += [f"> [!CAUTION]\n> {plan.unsafe}", ""]
    head += [f"**{summary(plan)}**", ""]
    if plan.empty:
        return "\n".join([*head, "No changes: the directory matches the files.", ""])
    table = ["| action | record | name | file | fields |", "|---|---|---|---|---|"]
    for change in plan.changes:
        fields = ", ".join(f"`{f.path}`" for f in change.fields[:6])
        if len(change.fields) > 6:
            fields += f" and {len(change.fields) - 6} more"
        table.append(
            f"| {_EMOJI[change.action]} | `{change.identity}` | {_md_cell(change.name)} | "
            f"`{change.source or ''}` | {_md_cell(fields)} |"
        )
    details = ["", "<details><summary>Field changes</summary>", "", "```diff"]
    for change in plan.changes:
        details.append(f"{_SYMBOL[change.action]} {_headline(change)}")
        details.extend(f"    {line}" for line in _detail_lines(change))
    details += ["```", "", "</details>", ""]
    full = "\n".join([*head, *table, *details])
    if len(full) <= limit:
        return full
    return _markdown_summary(plan, head, table, limit, full_plan_at)


def _markdown_summary(
    plan: Plan, head: list[str], table: list[str], limit: int, full_plan_at: str | None
) -> str:
    where = full_plan_at or f"`reconciler plan --env {plan.environment}`"
    note = (
        f"\n_The full plan ({len(plan.changes)} changes) is too long for a comment: see {where}._\n"
    )
    text = "\n".join(head) + "\n"  # a blank line before the table, as in the full rendering
    budget = limit - len(text) - len(note) - 200
    kept: list[str] = []
    used = 0
    for row in table:
        if used + len(row) + 1 > budget:
            break
        kept.append(row)
        used += len(row) + 1
    shown = max(len(kept) - 2, 0)
    if shown == len(plan.changes):
        tail = f"\n_All {shown} changes are listed; their field changes are left out._\n"
    else:
        tail = f"\n_Showing the first {shown} of {len(plan.changes)} changes._\n"
    return text + "\n".join(kept) + "\n" + tail + note


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as a JSON document: `plan --format json` and `plan --out` write exactly this."""
    return _document(plan, [change_document(c) for c in plan.changes])


def change_document(change: Change) -> dict[str, Any]:
    """One item of a plan document's `changes`."""
    after = change.after  # unpacked once, for the name too
    return {
        "action": change.action.value,
        "kind": change.kind,
        "identity": change.identity,
        "key": change.key,
        "name": kind_of(change.kind).display_name(after, change.identity),
        "source": change.source,
        "depends_on": list(change.depends_on),
        "envelope": change.envelope,
        "before": change.before,
        "after": after,
        "fields": [
            {
                "path": f.path,
                "before": f.before,
                "after": f.after,
                "added": f.added,
                "removed": f.removed,
            }
            for f in change.fields
        ],
    }


def _document(plan: Plan, changes: Any) -> dict[str, Any]:
    return {
        "format_version": PLAN_FORMAT,
        "environment": plan.environment,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "desired_digest": plan.desired_digest,
        "refreshed": plan.refreshed,
        "unsafe": plan.unsafe,
        "summary": {action.value: count for action, count in plan.counts().items()},
        "changes": changes,
    }


@without_gc
def render_json(plan: Plan) -> str:
    """Stable JSON of the plan (sorted keys, two-space indent, final newline)."""
    return pretty_json(plan_document(plan))


def render_json_chunks(plan: Plan) -> Iterator[str]:
    """`render_json` in pieces, one per change, each change's document made as it is written:
    a large plan's document is never held whole."""
    yield from iter_pretty_json(_document(plan, Streamed(plan.changes, change_document)))
    yield "\n"


def render_problems(problems: Sequence[Problem]) -> str:
    """`file:line: error: message` lines and a closing count, for a terminal."""
    lines = [
        f"{p.file}:{p.line}: {p.severity}: {p.message}" if p.line else f"{p.file}: {p.message}"
        for p in problems
    ]
    errors = sum(1 for p in problems if p.severity == "error")
    files = len({p.file for p in problems if p.severity == "error"})
    if errors:
        lines.append(
            f"{errors} problem{'s' if errors != 1 else ''} in {files} "
            f"file{'s' if files != 1 else ''}: nothing was planned or applied."
        )
    return "\n".join(lines) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(problems: Sequence[Problem]) -> str:
    """GitHub workflow commands: `::error file=…,line=…,title=…::message`, one per problem."""
    lines = []
    for p in problems:
        props = [f"file={_escape_property(p.file)}"]
        if p.line:
            props.append(f"line={p.line}")
        title = "reconciler " + ("validation error" if p.severity == "error" else "warning")
        props.append(f"title={_escape_property(title)}")
        lines.append(f"::{p.severity} {','.join(props)}::{_escape_data(p.message)}")
    return "\n".join(lines) + ("\n" if lines else "")


def problems_document(problems: Sequence[Problem], records: int) -> dict[str, Any]:
    """`validate --format json`."""
    return {
        "valid": not any(p.severity == "error" for p in problems),
        "records": records,
        "problems": [
            {
                "file": p.file,
                "line": p.line,
                "severity": p.severity,
                "message": p.message,
                "subject": p.subject,
            }
            for p in problems
        ],
    }


_FINDING_TEXT = {
    "missing": "missing from the directory",
    "deactivated": "deactivated in the directory",
    "reactivated": "active in the directory but inactive in the ledger",
    "different": "different in the directory",
}


def _not_compared() -> dict[str, list[str]]:
    """Per kind, the fields a query never returns (so drift cannot compare them)."""
    return {name: list(k.hidden_fields) for name, k in KINDS.items() if k.hidden_fields}


def drift_note() -> str:
    """What drift compares and what it cannot."""
    hidden = "; ".join(
        f"{'an' if name[0] in 'aeiou' else 'a'} {name}'s {' and '.join(fields)}"
        for name, fields in _not_compared().items()
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
        lines.extend(f"      {_field_line(f)}" for f in d.fields)
    if drifts:
        lines += ["", "Repair it with `reconciler apply --refresh` (or plan --refresh to review)."]
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
                f"{_md_cell(fields)} |"
            )
    lines += ["", f"_{drift_note()}_", ""]
    return "\n".join(lines)


def drift_document(drifts: Sequence[Drift], checked: int, environment: str) -> dict[str, Any]:
    """`drift --format json`."""
    return {
        "environment": environment,
        "checked": checked,
        "not_compared": _not_compared(),
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


def render_ledger_text(ledger: Ledger, shown_path: str) -> str:
    """`show`: every record of a ledger with its status and source, and the pending intents."""
    lines = [
        f"Environment {ledger.environment}: ledger {shown_path}, serial {ledger.serial}, "
        f"lineage {ledger.lineage}"
    ]
    for _key, entry in sorted(ledger.records.items()):
        name = kind_of(entry.kind).display_name(entry.payload, entry.identity)
        lines.append(
            f"  {entry.status:<8} {entry.kind} {entry.identity}  {name}  "
            f"({entry.source or '?'}, applied {entry.applied_at})"
        )
    for key, intent in sorted(ledger.intents.items()):
        lines.append(f"  pending  {intent.action} {key} started {intent.started_at}")
    total = len(ledger.records)
    lines.append(f"{total} record{'s' if total != 1 else ''}, {ledger.active_count()} active.")
    return "\n".join(lines) + "\n"


_ADOPTION_TEXT = {
    "adopted": "adopted {key}",
    "differs": "adopted {key} as the directory holds it: the plan will update it",
    "absent": "not in the directory: {key} (the plan will create it)",
    "ledgered": "already in the ledger: {key}",
}


def render_import(adoptions: Sequence[Adoption], environment: str) -> str:
    """What `import` did with each record, and how many it adopted."""
    lines: list[str] = []
    for a in adoptions:
        line = _ADOPTION_TEXT[a.status].format(key=a.key)
        if a.status == "adopted" and a.source:
            line += f" ({a.source})"
        lines.append(line)
        if a.status in {"adopted", "differs"} and a.source is None:
            lines.append(f"  no file holds {a.identity}: add one (or rerun with --write-yaml)")
    adopted = sum(1 for a in adoptions if a.status in {"adopted", "differs"})
    lines.append(
        f"Imported {adopted} record{'s' if adopted != 1 else ''} into the {environment} ledger."
    )
    hidden = "; ".join(
        f"{' and '.join(fields)} of each {name}" for name, fields in _not_compared().items()
    )
    if adopted and hidden:
        lines.append(f"Fields a query cannot return ({hidden}) are taken as in the files.")
    return "\n".join(lines) + "\n"

"""Plans as text (a terminal, a log), markdown (a pull-request comment) and the JSON document
that `plan --format json` prints and `plan --out` saves. Pure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from reconciler.formats.jsontext import Streamed, iter_pretty_json, pretty_json, without_gc
from reconciler.kinds import kind_of
from reconciler.model import Action
from reconciler.plan import PLAN_FORMAT, Change, FieldChange, Plan
from reconciler.policy.model import PolicyResult
from reconciler.render.limits import MARKDOWN_LIMIT as MARKDOWN_LIMIT
from reconciler.render.policy import policies_document, policy_markdown, policy_text

if TYPE_CHECKING:
    from reconciler.views.graph import Graph

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


_encode = json.encoder.encode_basestring  # the C implementation when available


def plan_summary(plan: Plan) -> str:
    """`Plan: N to create, N to update, N to deactivate, N to reactivate.`"""
    counts = plan.counts()
    return (
        f"Plan: {counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to update, "
        f"{counts[Action.DEACTIVATE]} to deactivate, {counts[Action.REACTIVATE]} to reactivate."
    )


def _value(value: Any) -> str:
    # Scalars directly: a plan of 100,000 creates shows millions of them.
    kind = type(value)
    if kind is str:
        return _encode(value)
    if kind is bool:
        return "true" if value else "false"
    if value is None:
        return "null"
    if kind is int:
        return int.__repr__(value)
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


def field_line(f: FieldChange) -> str:
    if f.moved_from is not None:
        return f"{f.path}: moved from {f.moved_from}"
    if f.added:
        return f"{f.path}: (none) -> {_value(f.after)}"
    if f.removed:
        return f"{f.path}: {_value(f.before)} -> (removed)"
    return f"{f.path}: {_value(f.before)} -> {_value(f.after)}"


def _detail_lines(change: Change, after: dict[str, Any] | None = None) -> list[str]:
    if change.action == Action.CREATE:
        shown = {**change.envelope, **(change.after if after is None else after)}
        return [f"{path}: {_value(value)}" for path, value in _leaves(shown)]
    return [field_line(f) for f in change.fields]


def _headline(change: Change, after: dict[str, Any] | None = None) -> str:
    where = f"  ({change.source})" if change.source else ""
    if after is None:
        name = change.name
    else:
        name = kind_of(change.kind).display_name(after, change.identity)
    return f"{change.action.value} {change.kind} {change.identity}  {name}{where}"


Paint = Callable[[str, str], str]


def render_text(plan: Plan, *, color: bool = False, policies: Sequence[PolicyResult] = ()) -> str:
    """The plan for a terminal or a log; ends with the summary line. `policies`: the plan's
    policy results, shown before the digest line."""
    return "".join(render_text_chunks(plan, color=color, policies=policies))


def render_text_chunks(
    plan: Plan, *, color: bool = False, policies: Sequence[PolicyResult] = ()
) -> Iterator[str]:
    """`render_text` in pieces, one per change, each made as it is written: a large plan's
    text is never held whole."""

    def paint(code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    lines = [f"Environment {plan.environment} (ledger serial {plan.serial})"]
    if plan.refreshed:
        lines.append("Planned against the directory's records (--refresh).")
    lines.append("")
    if plan.empty:
        lines.append("No changes: the directory matches the files.")
    yield "\n".join(lines) + "\n"
    for change in plan.changes:
        after = change.after  # unpacked once, for the name too
        head = paint(
            _COLOR[change.action], f"  {_SYMBOL[change.action]} {_headline(change, after)}"
        )
        yield "\n".join([head, *(f"      {line}" for line in _detail_lines(change, after))]) + "\n"
    yield _text_tail(plan, paint, policies)


def _text_tail(plan: Plan, paint: Paint, policies: Sequence[PolicyResult] = ()) -> str:
    lines: list[str] = []
    for warning in plan.warnings:
        lines.append(paint("33", f"Warning: {warning}"))
    for note in plan.notes:
        lines.append(f"Note: {note}")
    if plan.unsafe:
        lines.append("")
        lines.append(paint("31", f"Unsafe: {plan.unsafe}"))
    lines.extend(policy_text(policies, paint))
    lines.append("")
    lines.append(f"Plan digest: {plan.digest}")
    lines.append(paint("1", plan_summary(plan)))
    return "\n".join(lines) + "\n"


def md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(
    plan: Plan,
    *,
    limit: int = MARKDOWN_LIMIT,
    full_plan_at: str | None = None,
    graph: Graph | None = None,
    policies: Sequence[PolicyResult] = (),
) -> str:
    """The plan for a pull-request comment; beyond `limit` characters, a summary and a pointer.
    With the hierarchy `graph` (reconcile.graph), a mermaid flowchart of the changed records
    and their ancestors follows the table; `policies`' section comes before the table."""
    head = [f"### reconciler plan: `{plan.environment}`", ""]
    if plan.unsafe:
        head += [f"> [!CAUTION]\n> {plan.unsafe}", ""]
    head += [f"**{plan_summary(plan)}**", "", *digest_lines(plan), ""]
    head += [line for note in plan.notes for line in (f"_Note: {md_cell(note)}_", "")]
    head += policy_markdown(policies)
    if plan.empty:
        return "\n".join([*head, "No changes: the directory matches the files.", ""])
    table = ["| action | record | name | file | fields |", "|---|---|---|---|---|"]
    for change in plan.changes:
        fields = ", ".join(f"`{f.path}`" for f in change.fields[:6])
        if len(change.fields) > 6:
            fields += f" and {len(change.fields) - 6} more"
        table.append(
            f"| {_EMOJI[change.action]} | `{change.identity}` | {md_cell(change.name)} | "
            f"`{change.source or ''}` | {md_cell(fields)} |"
        )
    details = ["", "<details><summary>Field changes</summary>", "", "```diff"]
    for change in plan.changes:
        details.append(f"{_SYMBOL[change.action]} {_headline(change)}")
        details.extend(f"    {line}" for line in _detail_lines(change))
    details += ["```", "", "</details>", ""]
    drawn = _graph_section(plan, graph)
    full = "\n".join([*head, *table, *drawn, *details])
    if len(full) <= limit:
        return full
    # The picture matters more than the field details: it stays if it takes a small share.
    if len("\n".join(drawn)) > limit // 4:
        drawn = ["", "_The hierarchy graph is left out: it does not fit in this comment._"]
    return _markdown_summary(plan, head, table, limit, full_plan_at, drawn)


def _graph_section(plan: Plan, graph: Graph | None) -> list[str]:
    """The mermaid fence of the plan's graph (plan_view), a one-line note when it is too large,
    or nothing when no record of the hierarchy changes."""
    if graph is None or not any(
        n.action is not None and not n.attached for n in graph.nodes.values()
    ):
        return []
    # Here: only markdown draws the graph, and a terminal plan need not load it.
    from reconciler.render.graph import render_mermaid
    from reconciler.views.graph import PLAN_GRAPH_NODES, plan_view

    view = plan_view(graph)
    if view is None:
        return [
            "",
            f"_The hierarchy graph is left out: it would draw more than {PLAN_GRAPH_NODES} "
            f"records. `reconciler graph --env {plan.environment}` shows the whole tree._",
        ]
    return ["", "```mermaid", render_mermaid(view).rstrip("\n"), "```"]


def digest_marker(environment: str, digest: str) -> str:
    """The hidden marker of a plan's digest in markdown: `<!-- reconciler:plan-digest env=NAME
    sha256:HEX -->`, which the sync reads back from the pull request's comment."""
    return f"<!-- reconciler:plan-digest env={environment} {digest} -->"


def digest_lines(plan: Plan) -> list[str]:
    """The plan digest in markdown: visible, then in the hidden marker."""
    return [f"Plan digest: `{plan.digest}`", digest_marker(plan.environment, plan.digest)]


def _markdown_summary(
    plan: Plan,
    head: list[str],
    table: list[str],
    limit: int,
    full_plan_at: str | None,
    drawn: list[str],
) -> str:
    where = full_plan_at or f"`reconciler plan --env {plan.environment}`"
    note = (
        f"\n_The full plan ({len(plan.changes)} changes) is too long for a comment: see {where}._\n"
    )
    text = "\n".join(head) + "\n"  # a blank line before the table, as in the full rendering
    graph = "\n".join(drawn) + "\n" if drawn else ""
    budget = limit - len(text) - len(note) - len(graph) - 200
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
    return text + "\n".join(kept) + "\n" + tail + graph + note


def plan_document(plan: Plan, policies: Sequence[PolicyResult] = ()) -> dict[str, Any]:
    """The plan as a JSON document: `plan --format json` and `plan --out` write exactly this."""
    return _document(plan, [change_document(c) for c in plan.changes], policies)


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
        "fields": [field_document(f) for f in change.fields],
    }


def field_document(f: FieldChange) -> dict[str, Any]:
    """One field change in a JSON document (a plan's, a history's)."""
    doc = {
        "path": f.path,
        "before": f.before,
        "after": f.after,
        "added": f.added,
        "removed": f.removed,
    }
    if f.moved_from is not None:  # only a list item that changed places has it
        doc["moved_from"] = f.moved_from
    return doc


def _document(plan: Plan, changes: Any, policies: Sequence[PolicyResult] = ()) -> dict[str, Any]:
    return {
        "format_version": PLAN_FORMAT,
        "environment": plan.environment,
        "lineage": plan.lineage,
        "serial": plan.serial,
        "desired_digest": plan.desired_digest,
        "plan_digest": plan.digest,
        "refreshed": plan.refreshed,
        "unsafe": plan.unsafe,
        "summary": {action.value: count for action, count in plan.counts().items()},
        "changes": changes,
        # Shown, not trusted: apply evaluates the policies again (a saved plan's are not read).
        "policies": policies_document(policies),
    }


@without_gc
def render_json(plan: Plan, policies: Sequence[PolicyResult] = ()) -> str:
    """Stable JSON of the plan (sorted keys, two-space indent, final newline)."""
    return pretty_json(plan_document(plan, policies))


def render_json_chunks(plan: Plan, policies: Sequence[PolicyResult] = ()) -> Iterator[str]:
    """`render_json` in pieces, one per change, each change's document made as it is written:
    a large plan's document is never held whole."""
    streamed = Streamed(plan.changes, change_document)
    yield from iter_pretty_json(_document(plan, streamed, policies))
    yield "\n"

"""What changed between the plan that was reviewed on a pull request and the plan at merge, and
the comment that tells the pull request why the sync applied nothing. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.formats.jsontext import pack
from reconciler.kinds import kind_of
from reconciler.model import Action
from reconciler.plan import Change, FieldChange, Plan, field_changes
from reconciler.render import render_markdown
from reconciler.render.plan import md_cell, plan_summary

REFUSED_MARKER = "<!-- redox-reconciler-refused env={env} -->"
ROWS = 100  # differences listed in a comment; the rest are counted
PLAN_SHARE = 30_000  # of the comment for the plan at merge


@dataclass(frozen=True)
class Difference:
    """One record whose change differs: only in the plan at merge (`added`), only in the
    reviewed plan (`removed`), or in both but not the same (`changed`)."""

    status: str
    action: str
    kind: str
    identity: str
    name: str
    detail: str


def rebuilt(environment: str, items: Sequence[Mapping[str, Any]]) -> Plan:
    """The reviewed plan from the changes its comment carries (`Change.digested` items): what
    it would send, without the ledger serial, file names or field lists it was shown with."""
    changes = tuple(
        Change(
            kind=str(item["kind"]),
            identity=str(item["identity"]),
            action=Action(item["action"]),
            envelope=dict(item["envelope"]),
            before=item["before"],
            packed_after=pack(item["after"]),
        )
        for item in items
    )
    return Plan(environment, lineage="", serial=0, desired_digest="", changes=changes)


def differences(reviewed: Plan, current: Plan) -> list[Difference]:
    """Record by record, in the plan at merge's order, then what the reviewed plan had alone."""
    then = {c.key: c.digested() for c in reviewed.changes}
    found: list[Difference] = []
    for change in current.changes:
        now = change.digested()
        old = then.pop(change.key, None)
        if old is None:
            before = now.get("before") or {}
            fields = field_changes(before, now["after"]) if before else ()
            detail = "not in the reviewed plan" + (f": {_fields(fields)}" if fields else "")
            found.append(_difference("added", now, detail))
        elif old != now:
            found.append(_difference("changed", now, _what_differs(old, now)))
    for old in then.values():
        found.append(_difference("removed", old, "reviewed, but no longer in the plan"))
    return found


def _difference(status: str, change: Mapping[str, Any], detail: str) -> Difference:
    kind, identity = str(change["kind"]), str(change["identity"])
    shown = change.get("after") or change.get("before") or {}
    return Difference(
        status, str(change["action"]), kind, identity, _name(kind, shown, identity), detail
    )


def _name(kind: str, payload: Mapping[str, Any], identity: str) -> str:
    try:
        return kind_of(kind).display_name(dict(payload), identity)
    except (KeyError, LookupError, TypeError, ValueError):
        return identity


def _what_differs(old: Mapping[str, Any], now: Mapping[str, Any]) -> str:
    parts: list[str] = []
    if old["action"] != now["action"]:
        parts.append(f"reviewed as {old['action']}, now {now['action']}")
    if old.get("envelope") != now.get("envelope"):
        parts.append("the request envelope (directory) differs")
    if old.get("after") != now.get("after"):
        fields = field_changes(old.get("after") or {}, now.get("after") or {})
        parts.append("to send, reviewed → now: " + _fields(fields))
    if old.get("before") != now.get("before"):
        parts.append("the ledger's last applied record changed since review (an apply ran)")
    return "; ".join(parts)


def _fields(fields: Sequence[FieldChange]) -> str:
    shown = [
        f"`{f.path}`: {_value(f.before, f.added)} → {_value(f.after, f.removed)}"
        for f in fields[:5]
    ]
    if len(fields) > 5:
        shown.append(f"and {len(fields) - 5} more fields")
    return "; ".join(shown)


def _value(value: Any, absent: bool) -> str:
    return "(none)" if absent else json.dumps(value, ensure_ascii=False, sort_keys=True)


_STATUS = {
    "added": "new since review",
    "removed": "gone since review",
    "changed": "differs",
}


def refusal_comment(
    *,
    environment: str,
    reviewed_digest: str,
    reviewed: Plan | None,
    current: Plan,
    commit: str,
    run_url: str,
    comment_url: str = "",
) -> str:
    """The pull request comment of a sync that applied nothing because the plan at merge is
    not the reviewed one: both digests, what changed when the reviewed plan could be rebuilt
    from the plan comment, and the plan at merge."""
    review = f"[plan comment]({comment_url})" if comment_url else "plan comment"
    lines = [
        REFUSED_MARKER.format(env=environment),
        f"### Not applied to `{environment}`: the plan changed after review",
        "",
        f"The [sync]({run_url}) of `{commit[:12]}` planned `{environment}` again and found "
        f"another plan than the one reviewed in the {review}, so it sent nothing to "
        f"`{environment}`.",
        "",
        "| | plan digest | plan |",
        "|---|---|---|",
        f"| reviewed | `{reviewed_digest}` | "
        f"{plan_summary(reviewed) if reviewed else '(not in the comment)'} |",
        f"| at merge | `{current.digest}` | {plan_summary(current)} |",
        "",
    ]
    if reviewed is not None:
        found = differences(reviewed, current)
        lines += ["**What changed between the reviewed plan and the plan at merge:**", ""]
        lines += ["| | change | record | name | what |", "|---|---|---|---|---|"]
        for d in found[:ROWS]:
            lines.append(
                f"| {_STATUS[d.status]} | {d.action} {d.kind} | `{d.identity}` | "
                f"{md_cell(d.name)} | {md_cell(d.detail)} |"
            )
        if len(found) > ROWS:
            lines.append(f"\n_and {len(found) - ROWS} more records._")
        if not found:
            lines.append("| | the same changes, in another order | | | |")
        lines.append("")
    else:
        lines += [
            "The reviewed changes are not in the plan comment (it was too long to carry them), "
            "so only the digests can be compared: the plan at merge is below.",
            "",
        ]
    lines += [
        "<details><summary>The plan at merge</summary>",
        "",
        render_markdown(
            current, limit=PLAN_SHARE, full_plan_at=f"the log of the [sync]({run_url})"
        ),
        "</details>",
        "",
        "**What now:** check the plan at merge. If it is right, run the sync by hand "
        "(*Actions → sync → Run workflow*) with **skip-review-check**, which applies main as "
        "it is. If it is not, change the records in a new pull request.",
        "",
    ]
    return "\n".join(lines)

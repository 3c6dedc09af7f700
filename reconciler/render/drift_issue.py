"""The drift issue (SPEC 5): its body (which records differ, field by field, when each was last
applied, how to repair each) and the comments the drift check leaves on it. Pure."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from reconciler.render.drift import drift_note
from reconciler.render.plan import md_cell
from reconciler.views.drift import Part, Tracked

ISSUE_LIMIT = 65_536  # GitHub refuses a longer issue body
VALUE_LIMIT = 200  # characters of one field value in a table
TABLE_ROWS = 200  # records listed in the overview table
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?Z")

_FINDING = {
    "missing": "missing from the directory",
    "deactivated": "deactivated in the directory",
    "reactivated": "active in the directory, inactive as last applied",
    "different": "different in the directory",
}


def issue_title(environment: str) -> str:
    return f"Drift in {environment}"


def issue_marker(environment: str) -> str:
    """The hidden first line that names the issue's environment (the title alone is not
    trusted: a person may open an issue of that name)."""
    return f"<!-- reconciler:drift-issue env={environment} -->"


def when(iso: str) -> str:
    """`2025-06-01 06:17 UTC` from the ledger's ISO time (other text as it is)."""
    found = _ISO.fullmatch(iso or "")
    return f"{found[1]} {found[2]} UTC" if found else (iso or "unknown")


def _day(iso: str) -> str:
    found = _ISO.fullmatch(iso or "")
    return found[1] if found else (iso or "unknown")


def _value(value: Any) -> str:
    if value is None:
        return "(none)"
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > VALUE_LIMIT:
        text = text[:VALUE_LIMIT] + "…"
    text = md_cell(text)
    return text if "`" in text else f"`{text}`"


def _name(tracked: Tracked) -> str:
    d = tracked.drift
    return md_cell(d.name) if d.name and d.name != d.identity else ""


def scope_line(part: Part, checked: int, ledgered: int) -> str:
    if part.parts == 1:
        return f"all {checked} ledgered records"
    return (
        f"{checked} of the {ledgered} ledgered records: part {part.index + 1} of {part.parts} of "
        f"the rotation, so each record is checked once every {part.parts} days"
    )


def _repair(tracked: Tracked, environment: str) -> list[str]:
    d = tracked.drift
    refresh = f"reconciler apply --refresh --env {environment} --target {d.identity}"
    review = f"reconciler plan --refresh --env {environment}"
    put_back = (
        f"- **To put the files' version back:** `{refresh}`, from a machine with the "
        f"credentials of `{environment}` (review it first with `{review}`)."
    )
    where = f"`{d.source}`" if d.source else "a file (none holds it now)"
    keep = {
        "different": f"write the directory's values above into {where} and merge it: the "
        "sync applies them, and the ledger records them.",
        "deactivated": f"set `active: false` in {where} and merge it.",
        "reactivated": f"set `active: true` in {where} and merge it.",
        "missing": "there is nothing to keep: the directory no longer holds the record. Put "
        "it back as above, or find out who removed it.",
    }[d.finding.value]
    return [put_back, f"- **To keep the directory's version:** {keep}"]


def _section(tracked: Tracked, environment: str, *, part: Part) -> str:
    d = tracked.drift
    title = f"#### `{d.identity}` {_name(tracked)}".rstrip()
    applied = f"was last applied {when(d.applied_at)}" if d.applied_at else "was never applied"
    source = f" from `{d.source}`" if d.source else ""
    lines = [
        title,
        "",
        f"{_FINDING[d.finding.value].capitalize()} since {_day(tracked.found_at)}; the "
        f"{d.kind} {applied}{source}.",
    ]
    if not part.holds(d.identity):
        lines += [
            "",
            f"> Not checked by the last run, which checked another part of the rotation: as "
            f"found on {when(tracked.checked_at)}. It stays here until its part is checked.",
        ]
    if d.fields:
        lines += ["", "| field | last applied | in the directory |", "|---|---|---|"]
        lines += [
            f"| `{md_cell(f.path)}` | {_value(f.before)} | {_value(f.after)} |" for f in d.fields
        ]
    lines += ["", *_repair(tracked, environment)]
    return "\n".join(lines) + "\n"


def _row(tracked: Tracked, *, part: Part) -> str:
    d = tracked.drift
    finding = _FINDING[d.finding.value]
    if not part.holds(d.identity):
        finding += f" (as of {_day(tracked.checked_at)})"
    applied = when(d.applied_at) if d.applied_at else "never"
    source = f"`{md_cell(d.source)}`" if d.source else ""
    return (
        f"| `{d.identity}` | {_name(tracked)} | {finding} | {source} | {applied} | "
        f"{_day(tracked.found_at)} |"
    )


def render_drift_issue(
    environment: str,
    records: Sequence[Tracked],
    *,
    checked: int,
    ledgered: int,
    part: Part,
    checked_at: str,
    run_url: str | None,
    hidden: str = "",
    limit: int = ISSUE_LIMIT,
) -> str:
    """The issue's body: every record in a table, then each one's fields and repairs while
    they fit in `limit` (with `hidden`, the issue's state, at the end)."""
    count = len(records)
    run = f" ([run]({run_url}))" if run_url else ""
    head = [
        issue_marker(environment),
        f"The Redox directory holds **{count} record{'' if count == 1 else 's'}** of "
        f"`{environment}` otherwise than they were last applied.",
        "",
        "The scheduled drift check keeps this issue current: it edits this text on every run, "
        "comments when the set of drifted records changes, and closes the issue once none "
        "differs.",
        "",
        f"**Last check:** {when(checked_at)}{run}: {scope_line(part, checked, ledgered)}.",
        "",
        "| record | name | finding | file | last applied | found |",
        "|---|---|---|---|---|---|",
    ]
    head += [_row(t, part=part) for t in records[:TABLE_ROWS]]
    if count > TABLE_ROWS:
        head.append(f"\n_… and {count - TABLE_ROWS} more records, listed in the run's summary._")
    tail = f"\n_{drift_note()}_\n" + (f"\n{hidden}\n" if hidden else "")
    body = "\n".join(head) + "\n\n### What differs, and how to repair it\n\n"
    room = limit - len(tail) - 400  # the closing note about records left out
    shown = 0
    for tracked in records:
        section = _section(tracked, environment, part=part)
        if len(body) + len(section) > room:
            break
        body += section + "\n"
        shown += 1
    if shown < count:
        where = f"the job summary of [the last run]({run_url})" if run_url else "the drift report"
        body += (
            f"_The details of {count - shown} more record{'' if count - shown == 1 else 's'} do "
            f"not fit in an issue: {where} lists them._\n"
        )
    return body + tail


def _listed(records: Sequence[Tracked]) -> list[str]:
    return [
        f"- `{t.drift.identity}` {_name(t)} ({_FINDING[t.drift.finding.value]})".replace("  ", " ")
        for t in records
    ]


def render_changed_comment(
    environment: str,
    *,
    added: Sequence[Tracked],
    resolved: Sequence[Tracked],
    total: int,
    run_url: str | None,
) -> str:
    """The comment when the set of drifted records changed."""
    run = f" ([run]({run_url}))" if run_url else ""
    lines = [f"The drifted records of `{environment}` changed{run}:", ""]
    if added:
        lines += ["**Now differ:**", *_listed(added), ""]
    if resolved:
        lines += [
            "**Match again:**",
            *[f"- `{t.drift.identity}` {_name(t)}".rstrip() for t in resolved],
            "",
        ]
    differ = "1 record differs" if total == 1 else f"{total} records differ"
    lines.append(f"{differ} now; the description is current.")
    return "\n".join(lines) + "\n"


def render_closed_comment(
    environment: str, *, checked: int, ledgered: int, part: Part, run_url: str | None
) -> str:
    """The comment that closes the issue: no record differs any more."""
    run = f" ([run]({run_url}))" if run_url else ""
    return (
        f"No drift left in `{environment}`{run}: every record this issue listed has been "
        f"checked again and matches what was last applied (this run: "
        f"{scope_line(part, checked, ledgered)}). Closing; the next drift opens a new issue.\n"
    )


def render_duplicate_comment(kept: int) -> str:
    """The comment that closes a second drift issue of the same environment."""
    return (
        f"Closed as a duplicate of #{kept}: the drift check keeps one issue per environment "
        "(two runs opened one each at the same moment).\n"
    )

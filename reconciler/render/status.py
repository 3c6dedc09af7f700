"""`status`: records x environments as a table with counts per state, and its JSON. Pure."""

from __future__ import annotations

from typing import Any

from reconciler.views.status import IN_SYNC, INTENT, NO_FILE, UNVERIFIED, Status

# Every other state is pending: yellow.
_COLOR = {IN_SYNC: "32", INTENT: "31", UNVERIFIED: "31", NO_FILE: "2"}
_NAME_WIDTH = 40
_FIXED = 3  # the columns before the environments': kind, record, name


def status_document(status: Status) -> dict[str, Any]:
    """`status --format json`: {"environments": [...], "records": [{key, kind, identity, name,
    source, status: {ENV: STATE}}]}."""
    return {
        "environments": list(status.environments),
        "records": [
            {
                "key": row.key,
                "kind": row.kind,
                "identity": row.identity,
                "name": row.name,
                "source": row.source,
                "status": {env: row.status[env] for env in status.environments},
            }
            for row in status.rows
        ],
    }


def _short(name: str) -> str:
    flat = " ".join(name.split())
    return flat if len(flat) <= _NAME_WIDTH else flat[: _NAME_WIDTH - 3] + "..."


def render_status_text(status: Status, *, color: bool = False) -> str:
    """One row per record, one column per environment, and below, how many records each state
    holds in each environment."""
    envs = status.environments
    heads = ["kind", "record", "name", *envs]
    rows = [[r.kind, r.identity, _short(r.name), *(r.status[e] for e in envs)] for r in status.rows]
    counts = status.counts()
    footer = [
        ["", "", state, *(str(counts[state][e]) for e in envs)]
        for state, per_env in counts.items()
        if any(per_env.values())
    ]
    widths = [max(len(row[i]) for row in [heads, *rows, *footer]) for i in range(len(heads))]

    def line(row: list[str], *, states: bool = False) -> str:
        cells = [text.ljust(width) for text, width in zip(row, widths, strict=True)]
        if states and color:
            for i in range(_FIXED, len(cells)):
                cells[i] = f"\x1b[{_COLOR.get(row[i], '33')}m{cells[i]}\x1b[0m"
        return "  ".join(cells).rstrip()

    out = [line(heads)]
    out += [line(row, states=True) for row in rows]
    if not rows:
        out.append("(no records in the files or the ledgers)")
    out.append("")
    out += [line(row) for row in footer]
    return "\n".join(out) + "\n"

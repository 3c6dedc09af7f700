"""What `show` and `import` print about a ledger."""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.kinds import kind_of
from reconciler.ledger.adopt import Adoption
from reconciler.ledger.model import Ledger
from reconciler.render.drift import not_compared


def render_ledger_text(ledger: Ledger, shown_path: str) -> str:
    """`show`: every record of a ledger with its status and source, and the pending intents."""
    lines = [
        f"Environment {ledger.environment}: ledger {shown_path}, serial {ledger.serial}, "
        f"lineage {ledger.lineage}"
    ]
    for _key, entry in sorted(ledger.records.items()):
        name = kind_of(entry.kind).display_name(entry.payload, entry.identity)
        unverified = ", unverified" if entry.unverified else ""
        lines.append(
            f"  {entry.status:<8} {entry.kind} {entry.identity}  {name}  "
            f"({entry.source or '?'}, applied {entry.applied_at}{unverified})"
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
    "unfiled": "already in the ledger, but no file holds {key}",
    "restored": "wrote the file of {key} from the ledger's last applied payload",
}


def render_import(adoptions: Sequence[Adoption], environment: str) -> str:
    """What `import` did with each record, and how many it adopted."""
    lines: list[str] = []
    for a in adoptions:
        line = _ADOPTION_TEXT[a.status].format(key=a.key)
        if a.status in {"adopted", "restored"} and a.source:
            line += f" ({a.source})"
        lines.append(line)
        if a.status in {"adopted", "differs", "unfiled"} and a.source is None:
            again = f"reconciler import --env {environment} --oid {a.identity} --write-yaml"
            lines.append(f"  no file holds {a.identity}: add one, or write it with `{again}`")
        if a.note:
            lines.append(f"  {a.note}")
    adopted = sum(1 for a in adoptions if a.status in {"adopted", "differs"})
    lines.append(
        f"Imported {adopted} record{'s' if adopted != 1 else ''} into the {environment} ledger."
    )
    hidden = "; ".join(
        f"{' and '.join(fields)} of each {name}" for name, fields in not_compared().items()
    )
    if adopted and hidden:
        lines.append(f"Fields a query cannot return ({hidden}) are taken as in the files.")
    return "\n".join(lines) + "\n"

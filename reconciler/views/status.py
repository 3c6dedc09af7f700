"""Promotion status: every record against every environment's ledger, by the same diff as the
plan (SPEC 6). Pure: no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.kinds import KINDS, kind_of
from reconciler.ledger.model import Ledger
from reconciler.model import Desired, Key, split_key
from reconciler.plan import build_plan

IN_SYNC = "in sync"
INTENT = "intent pending"
# Applied, but the directory did not show it when read back (SPEC 2, Verification); its source
# is a ledger entry marked unverified.
UNVERIFIED = "unverified"
NO_FILE = "no file"
# Applied (Redox accepted it), but the directory has not been seen to show it (SPEC 2).
UNVERIFIED = "unverified"
# Every state a cell can hold, in the order the counts are listed.
STATES = (
    IN_SYNC,
    "create pending",
    "update pending",
    "deactivate pending",
    "reactivate pending",
    UNVERIFIED,
    INTENT,
    UNVERIFIED,
    NO_FILE,
)


@dataclass(frozen=True)
class Row:
    """One record and its state in each environment."""

    key: Key
    kind: str
    identity: str
    name: str
    source: str | None
    status: dict[str, str]


@dataclass(frozen=True)
class Status:
    """Records x environments."""

    environments: tuple[str, ...]
    rows: tuple[Row, ...]

    def counts(self) -> dict[str, dict[str, int]]:
        """state -> environment -> how many records are in it (every state and environment)."""
        counts = {state: dict.fromkeys(self.environments, 0) for state in STATES}
        for row in self.rows:
            for env, state in row.status.items():
                counts[state][env] += 1
        return counts


def build_status(
    desired: Mapping[str, Mapping[Key, Desired]],
    ledgers: Mapping[str, Ledger],
    *,
    missing: str = "error",
) -> Status:
    """The state of every record of the files or of any ledger, in each environment of
    `desired` (environment -> its desired state; `ledgers` holds one ledger per environment).

    A record is `in sync` when the plan for that environment leaves it alone; `<action>
    pending` when the plan would change it; `intent pending` when an apply died mid-call on it;
    `unverified` when the plan leaves it alone but the directory has not been seen to show its
    last apply; `no file` when no file holds it (unless `missing: deactivate` deactivates it)."""
    environments = tuple(desired)
    states: dict[Key, dict[str, str]] = {}
    known: dict[Key, tuple[str | None, str | None]] = {}  # key -> (name, source)
    for env in environments:
        want, ledger = desired[env], ledgers[env]
        # missing="deactivate" lists records without a file instead of refusing the plan.
        plan = build_plan(want, ledger, desired_digest="", missing="deactivate")
        actions = {change.key: change.action for change in plan.changes}
        for key in (*want, *ledger.records, *ledger.intents):
            cell = states.setdefault(key, {})
            if key in ledger.intents:
                cell[env] = INTENT
            elif key not in want and not (missing == "deactivate" and key in actions):
                cell[env] = NO_FILE
            elif key in actions:
                cell[env] = f"{actions[key].value} pending"
            elif (entry := ledger.records.get(key)) is not None and entry.unverified:
                cell[env] = UNVERIFIED
            else:
                cell[env] = IN_SYNC
            if key not in known or (key in want and known[key][1] != want[key].file):
                known[key] = _described(key, want.get(key), ledger)
    for cell in states.values():
        for env in environments:
            # Every environment reads the same files: a record absent from one is in none.
            cell.setdefault(env, NO_FILE)
    order = {name: index for index, name in enumerate(KINDS)}
    rows = []
    for key, cell in states.items():
        kind, identity = split_key(key)
        name, source = known[key]
        rows.append(Row(key, kind, identity, name or identity, source, cell))
    rows.sort(key=lambda r: (order.get(r.kind, len(order)), r.name.casefold(), r.identity))
    return Status(environments, tuple(rows))


def _described(key: Key, want: Desired | None, ledger: Ledger) -> tuple[str | None, str | None]:
    """(name, source) of a record: from its file, else from the ledger's last payload."""
    kind_name, identity = split_key(key)
    if want is not None:
        return kind_of(kind_name).display_name(want.payload, identity), want.file
    entry = ledger.records.get(key)
    if entry is not None:
        return kind_of(entry.kind).display_name(entry.payload, identity), entry.source
    intent = ledger.intents.get(key)
    if intent is not None:
        return kind_of(intent.kind).display_name(intent.payload, identity), intent.source
    return None, None

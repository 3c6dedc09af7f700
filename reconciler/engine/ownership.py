"""Ownership (SPEC 2): what to do when a Create is answered "already exists". Pure: the applier
looks the record up and sends what is decided here.

- adopt: every field a query returns equals the plan: it is the same record, taken into the
  ledger with no call, or with one Update when the plan also holds what a query cannot show
  (non-empty Endpoints, a non-null DestinationID);
- overwrite: a returned field differs, and this tool sent that Create itself (a retry after a
  lost reply in this run, or an intent an interrupted run left), or `--adopt-existing` says so;
- refuse: otherwise the record was created elsewhere (by hand, by another tool, or it is another
  organization's identity typed by mistake): nothing is sent.

`managing_org` (reconciler.yaml) comes first: a record whose ManagingOrg differs, or is not
shown, is refused whatever the flags, unless this tool's own Create made it and a query does not
show it yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from reconciler.engine.result import Existing
from reconciler.model import Kind
from reconciler.plan import field_changes

Verdict = Literal["adopt", "adopt_and_update", "overwrite", "refuse"]


@dataclass(frozen=True)
class Decision:
    """What to do, and (refuse) what the directory holds, for the person to decide."""

    verdict: Verdict
    existing: Existing | None = None


def foreign(kind: Kind, found: dict[str, Any], managing_org: str | None) -> bool:
    """Whether `managing_org` is set and the directory's record is not shown managed by it (a
    kind whose answers name no manager is never foreign)."""
    if managing_org is None or kind.managing_field is None:
        return False
    return kind.managed_by(found) != managing_org


def decide(
    kind: Kind,
    found: dict[str, Any] | None,
    planned: dict[str, Any],
    *,
    ours: bool,
    adopt_existing: bool,
    managing_org: str | None,
) -> Decision:
    """The verdict on a Create answered "already exists", given what a query shows of the
    record (`found`; None when it shows none, yet) and whether this tool sent that Create."""
    if found is None:
        # Redox holds it, a query does not show it (yet): whose it is cannot be seen.
        if ours or (adopt_existing and managing_org is None):
            return Decision("overwrite")
        return Decision("refuse", Existing(visible=False, foreign=managing_org is not None))
    if foreign(kind, found, managing_org):
        return Decision("refuse", _existing(kind, found, planned, foreign=True))
    if kind.holds(found, planned):
        return Decision("adopt_and_update" if kind.hides(planned) else "adopt")
    if ours or adopt_existing:
        return Decision("overwrite")
    return Decision("refuse", _existing(kind, found, planned, foreign=False))


def _existing(
    kind: Kind, found: dict[str, Any], planned: dict[str, Any], *, foreign: bool
) -> Existing:
    shown = kind.comparable(found, planned)
    paths = field_changes(kind.queryable(planned), shown, identities=kind.list_identities)
    return Existing(
        fields=tuple(f.path for f in paths), managed_by=kind.managed_by(found), foreign=foreign
    )

"""The plan as data: what must change for the directory to match the files. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from deepdiff import DeepDiff

from reconciler.errors import PlanError, UnsafePlan
from reconciler.jsontext import pack, unpack, without_gc
from reconciler.kinds import kind_of
from reconciler.ledger import Entry, Ledger
from reconciler.model import ACTION_ORDER, Action, Desired, Key, make_key

__all__ = ["Action", "Change", "FieldChange", "Plan", "build_plan", "summary"]

PLAN_FORMAT = 1


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: its Redox path, and the values before and after."""

    path: str
    before: Any = None
    after: Any = None
    added: bool = False
    removed: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Change:
    """One record's change: the payload before (None for a create) and after."""

    kind: str
    identity: str
    action: Action
    envelope: dict[str, Any]
    before: dict[str, Any] | None
    packed_after: str  # `after`, packed (jsontext.pack): a plan holds every create's payload
    fields: tuple[FieldChange, ...] = ()
    source: str | None = None
    depends_on: tuple[Key, ...] = ()  # changes that must succeed before this one is sent

    @property
    def key(self) -> Key:
        return make_key(self.kind, self.identity)

    @property
    def after(self) -> dict[str, Any]:
        """The payload after the change: a fresh copy on each call."""
        after: dict[str, Any] = unpack(self.packed_after)
        return after

    def __eq__(self, other: object) -> bool:
        # `after` compares as a value, as `before` does: a saved plan packs it with sorted keys.
        if not isinstance(other, Change):
            return NotImplemented
        return self._compared() == other._compared()

    def _compared(self) -> tuple[Any, ...]:
        return (
            self.kind,
            self.identity,
            self.action,
            self.envelope,
            self.before,
            self.after,
            self.fields,
            self.source,
            self.depends_on,
        )

    @property
    def name(self) -> str:
        """A human name for the record (Organization Name, provider's name)."""
        return kind_of(self.kind).display_name(self.after, self.identity)


@dataclass(frozen=True)
class Plan:
    """Every change for one environment, and what it was planned against."""

    environment: str
    lineage: str
    serial: int
    desired_digest: str
    changes: tuple[Change, ...]
    unsafe: str | None = None  # why the safety guard refuses this plan without --force
    refreshed: bool = False
    warnings: tuple[str, ...] = field(default=())

    def counts(self) -> dict[Action, int]:
        """How many changes of each action, every action present."""
        counts = dict.fromkeys(Action, 0)
        for change in self.changes:
            counts[change.action] += 1
        return counts

    @property
    def empty(self) -> bool:
        return not self.changes

    def only(self, targets: Iterable[str]) -> Plan:
        """The changes of the targeted records (by identity or key) and what they depend on."""
        by_key = {c.key: c for c in self.changes}
        wanted = set(targets)
        keep: set[Key] = set()
        stack = [c.key for c in self.changes if c.identity in wanted or c.key in wanted]
        while stack:
            key = stack.pop()
            if key in keep or key not in by_key:
                continue
            keep.add(key)
            stack.extend(by_key[key].depends_on)
        return replace(self, changes=tuple(c for c in self.changes if c.key in keep))


def summary(plan: Plan) -> str:
    """`Plan: N to create, N to update, N to deactivate, N to reactivate.`"""
    counts = plan.counts()
    return (
        f"Plan: {counts[Action.CREATE]} to create, {counts[Action.UPDATE]} to update, "
        f"{counts[Action.DEACTIVATE]} to deactivate, {counts[Action.REACTIVATE]} to reactivate."
    )


@without_gc
def build_plan(
    desired: Mapping[Key, Desired],
    ledger: Ledger,
    *,
    desired_digest: str,
    missing: str = "error",
    max_deactivate_fraction: float = 0.3,
    min_records_for_fraction: int = 10,
    refreshed: bool = False,
) -> Plan:
    """Diff the desired state against the ledger; PlanError when a ledgered file is gone."""
    changes: list[Change] = []
    gone: list[Entry] = []
    for key, want in desired.items():
        have = ledger.records.get(key)
        change = _change_for(want, have)
        if change is not None:
            changes.append(change)
    for key, entry in ledger.records.items():
        if key in desired or entry.status == "inactive":
            continue
        if missing == "deactivate":
            kind = kind_of(entry.kind)
            after = kind.with_active(entry.payload, False)
            changes.append(
                Change(
                    kind=entry.kind,
                    identity=entry.identity,
                    action=Action.DEACTIVATE,
                    envelope=entry.envelope,
                    before=entry.payload,
                    packed_after=pack(after),
                    fields=field_changes(entry.payload, after),
                    source=entry.source,
                )
            )
        else:
            gone.append(entry)
    if gone:
        raise PlanError(_gone_message(gone))
    parents = _parents(desired, ledger)
    ordered = _order(_with_dependencies(changes, parents), parents)
    return Plan(
        environment=ledger.environment,
        lineage=ledger.lineage,
        serial=ledger.serial,
        desired_digest=desired_digest,
        changes=ordered,
        unsafe=_safety(ordered, ledger, max_deactivate_fraction, min_records_for_fraction),
        refreshed=refreshed,
    )


def check_safety(plan: Plan, *, force: bool) -> None:
    """UnsafePlan when the plan deactivates too much and --force was not given."""
    if plan.unsafe and not force:
        raise UnsafePlan(plan.unsafe)


def _change_for(want: Desired, have: Entry | None) -> Change | None:
    before: dict[str, Any] | None = None
    fields: tuple[FieldChange, ...] = ()
    if have is None:
        action = Action.CREATE
    elif have.digest == want.wire_digest:
        return None
    else:
        was_active = have.status == "active"
        if was_active and not want.active:
            action = Action.DEACTIVATE
        elif want.active and not was_active:
            action = Action.REACTIVATE
        else:
            action = Action.UPDATE
        before = have.payload
        fields = field_changes({**have.envelope, **have.payload}, {**want.envelope, **want.payload})
    return Change(
        kind=want.kind,
        identity=want.identity,
        action=action,
        envelope=want.envelope,
        before=before,
        packed_after=want.packed_payload,
        fields=fields,
        source=want.file,
    )


def field_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    """The fields that differ between two payloads, by Redox path (Address.City, Contacts[0])."""
    diff = DeepDiff(dict(before), dict(after), view="tree", ignore_order=False)
    found: list[FieldChange] = []
    for report, levels in diff.items():
        for level in levels:
            path = _path(level.path(output_format="list"))
            if report in {"dictionary_item_added", "iterable_item_added"}:
                found.append(FieldChange(path, after=level.t2, added=True))
            elif report in {"dictionary_item_removed", "iterable_item_removed"}:
                found.append(FieldChange(path, before=level.t1, removed=True))
            else:
                found.append(FieldChange(path, before=level.t1, after=level.t2))
    return tuple(sorted(found, key=lambda f: f.path))


def _path(steps: list[Any]) -> str:
    text = ""
    for step in steps:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _parents(desired: Mapping[Key, Desired], ledger: Ledger) -> dict[Key, tuple[Key, ...]]:
    """Each known record's parents: from the files, else from the last-applied payload."""
    parents = {key: kind_of(e.kind).parent_keys(e.payload) for key, e in ledger.records.items()}
    parents.update({key: d.depends_on for key, d in desired.items()})
    return parents


def _with_dependencies(
    changes: list[Change], parents: Mapping[Key, tuple[Key, ...]]
) -> list[Change]:
    """A record waits for its parents' creates and reactivations; a parent's deactivation waits
    for its children's deactivations."""
    by_key = {c.key: c for c in changes}
    bringing_up = {Action.CREATE, Action.REACTIVATE}
    waits: dict[Key, set[Key]] = {}  # only the changes that wait for another
    for change in changes:
        for parent in parents.get(change.key, ()):
            other = by_key.get(parent)
            if other is None:
                continue
            if other.action in bringing_up and change.action != Action.DEACTIVATE:
                waits.setdefault(change.key, set()).add(parent)
            elif other.action == Action.DEACTIVATE and change.action == Action.DEACTIVATE:
                waits.setdefault(parent, set()).add(change.key)
    return [
        replace(c, depends_on=tuple(sorted(waits[c.key]))) if c.key in waits else c for c in changes
    ]


def _order(changes: list[Change], parents: Mapping[Key, tuple[Key, ...]]) -> tuple[Change, ...]:
    """Action order; parents first within creates and reactivations, children first within
    deactivations; then by key, so output is deterministic."""
    depth: dict[Key, int] = {}

    def depth_of(key: Key, seen: frozenset[Key] = frozenset()) -> int:
        if key not in depth:
            ups = [p for p in parents.get(key, ()) if p in parents and p not in seen]
            depth[key] = 1 + max((depth_of(p, seen | {key}) for p in ups), default=-1)
        return depth[key]

    def sort_key(change: Change) -> tuple[int, int, str]:
        level = depth_of(change.key)
        if change.action == Action.DEACTIVATE:
            level = -level
        return (ACTION_ORDER[change.action], level, change.key)

    return tuple(sorted(changes, key=sort_key))


def _safety(changes: Iterable[Change], ledger: Ledger, fraction: float, minimum: int) -> str | None:
    active = ledger.active_count()
    deactivating = sum(1 for c in changes if c.action == Action.DEACTIVATE)
    if active < minimum or active == 0 or deactivating / active <= fraction:
        return None
    return (
        f"this plan deactivates {deactivating} of {active} active records "
        f"({deactivating / active:.0%}), more than the safety limit of {fraction:.0%} "
        "(safety.max_deactivate_fraction in reconciler.yaml). If that is intended, run it "
        "again with --force"
    )


def _gone_message(gone: list[Entry]) -> str:
    lines = [
        f"{len(gone)} ledgered record{'s are' if len(gone) != 1 else ' is'} missing from the "
        "files. Carequality records are never deleted, so removing a file is not a way to "
        "retire one:"
    ]
    for entry in sorted(gone, key=lambda e: (e.source or "", e.identity)):
        lines.append(
            f"  - {entry.kind} {entry.identity} was last applied from {entry.source or '?'}"
        )
    lines.append(
        "Fix: restore each file and set `active: false` in it to deactivate the record, or set "
        "`missing: deactivate` in reconciler.yaml to deactivate records whose file is gone."
    )
    return "\n".join(lines)


def plan_from_document(doc: Mapping[str, Any], *, name: str = "") -> Plan:
    """A plan saved with `plan --out` (the document of render.plan_document), checked in full:
    see saved_plan."""
    from reconciler import saved_plan  # it builds on this module's types

    return saved_plan.plan_from_document(doc, name=name)

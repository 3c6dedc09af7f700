"""build_plan: the changes that make the directory match the files, diffed against the ledger,
with what each must wait for and in the order they are sent. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.errors import PlanError
from reconciler.formats.jsontext import pack, without_gc
from reconciler.kinds import kind_of, oid_keys
from reconciler.ledger.model import Entry, Ledger
from reconciler.model import ACTION_ORDER, Action, Desired, Key, make_key
from reconciler.plan.diff import field_changes
from reconciler.plan.model import Change, FieldChange, Plan
from reconciler.plan.safety import unsafe_reason


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
    retired: list[Entry] = []  # inactive, and no file holds them: allowed, the ledger keeps them
    for key, want in desired.items():
        have = ledger.records.get(key)
        change = _change_for(want, have)
        if change is not None:
            changes.append(change)
    for key, entry in ledger.records.items():
        if key in desired:
            continue
        if entry.status == "inactive":
            retired.append(entry)
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
                    fields=field_changes(entry.payload, after, identities=kind.list_identities),
                    source=entry.source,
                )
            )
        else:
            gone.append(entry)
    if gone:
        raise PlanError(_gone_message(gone, ledger.environment))
    parents = _parents(desired, ledger)
    ordered = _order(_with_dependencies(changes, parents), parents)
    return Plan(
        environment=ledger.environment,
        lineage=ledger.lineage,
        serial=ledger.serial,
        desired_digest=desired_digest,
        changes=ordered,
        unsafe=unsafe_reason(ordered, ledger, max_deactivate_fraction, min_records_for_fraction),
        refreshed=refreshed,
        notes=_retired_note(retired),
    )


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
        fields = field_changes(
            {**have.envelope, **have.payload},
            {**want.envelope, **want.payload},
            identities=kind_of(want.kind).list_identities,
        )
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


def _parents(desired: Mapping[Key, Desired], ledger: Ledger) -> dict[Key, tuple[Key, ...]]:
    """Each known record's parents: from the files, else from the last-applied payload."""
    parents = {key: e.parents for key, e in ledger.records.items() if key not in desired}
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


def _gone_message(gone: list[Entry], environment: str) -> str:
    lines = [
        f"{len(gone)} ledgered record{'s are' if len(gone) != 1 else ' is'} missing from the "
        "files. Carequality records are never deleted, so removing a file is not a way to "
        "retire one:"
    ]
    for entry in sorted(gone, key=lambda e: (e.source or "", e.identity)):
        where = f"was last applied from {entry.source}" if entry.source else "(no file on record)"
        lines.append(f"  - {entry.kind} {entry.identity} {where}")
    # `import --oid` writes a file from the ledger for the records an OID names.
    named = sorted(e.identity for e in gone if oid_keys([e.identity]) == [_key_of(e)])
    if named:
        oids = " ".join(f"--oid {oid}" for oid in named)
        lines.append(
            "Fix: write the files back from the ledger with "
            f"`reconciler import --env {environment} {oids} --write-yaml` (or restore them "
            "from git), then set `active: false` in each to deactivate the record. Or set "
            "`missing: deactivate` in reconciler.yaml to deactivate records whose file is gone."
        )
    if len(named) < len(gone):
        lines.append(
            "Fix: restore each file from git and set `active: false` in it to deactivate the "
            "record, or set `missing: deactivate` in reconciler.yaml to deactivate records "
            "whose file is gone."
        )
    return "\n".join(lines)


def _key_of(entry: Entry) -> Key:
    return make_key(entry.kind, entry.identity)


def _retired_note(retired: list[Entry]) -> tuple[str, ...]:
    """Inactive records whose file was removed: nothing to do, but the plan says so."""
    if not retired:
        return ()
    shown = sorted(f"{e.kind} {e.identity}" for e in retired)
    listed = ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")
    count = f"{len(retired)} inactive record{'s have' if len(retired) != 1 else ' has'}"
    return (
        f"{count} no file; the ledger keeps {'them' if len(retired) != 1 else 'it'}: {listed}.",
    )


def dependency_cycle(waits: Mapping[Key, Iterable[Key]]) -> list[Key] | None:
    """A cycle among `waits` (key -> the keys it waits for, only those in `waits` count), as
    the keys around it, or None. Iterative: a chain of 100,000 records is no recursion."""
    state: dict[Key, int] = {}  # 1: on the current path, 2: done
    for start in waits:
        if start in state:
            continue
        path: list[Key] = [start]
        pending: list[Iterable[Key]] = [iter(waits[start])]
        state[start] = 1
        while path:
            step = next((k for k in pending[-1] if k in waits and state.get(k) != 2), None)
            if step is None:
                state[path.pop()] = 2
                pending.pop()
            elif state.get(step) == 1:
                return [*path[path.index(step) :], step]
            else:
                state[step] = 1
                path.append(step)
                pending.append(iter(waits[step]))
    return None

"""The plan as data: what must change for the directory to match the files. Pure: no I/O."""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.errors import PlanError, UnsafePlan
from reconciler.formats.jsontext import Canonical, canonical_json, pack, unpack, without_gc
from reconciler.kinds import kind_of, oid_keys
from reconciler.ledger.model import Entry, Ledger
from reconciler.model import ACTION_ORDER, Action, Desired, Key, make_key

__all__ = [
    "DIGEST_PATTERN",
    "Action",
    "Change",
    "FieldChange",
    "Plan",
    "build_plan",
    "plan_digest",
    "summary",
]

PLAN_FORMAT = 1
DIGEST_PATTERN = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs: its Redox path, and the values before and after. A list item
    that only changed places has `moved_from`, its path before."""

    path: str
    before: Any = None
    after: Any = None
    added: bool = False
    removed: bool = False
    moved_from: str | None = None


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

    def digested(self) -> dict[str, Any]:
        """What the plan digest covers of this change: what is sent, to which record, and
        what the ledger held; not the file it came from nor the field list derived from it."""
        return {
            "action": self.action.value,
            "kind": self.kind,
            "identity": self.identity,
            "envelope": self.envelope,
            "before": self.before,
            "after": self.after,
        }


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
    notes: tuple[str, ...] = field(default=())  # facts worth knowing that change nothing

    @functools.cached_property
    def digest(self) -> str:
        """The plan digest, `sha256:` and 64 hex digits (see `plan_digest`)."""
        return plan_digest(self.environment, self.changes)

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


def plan_digest(environment: str, changes: Iterable[Change]) -> str:
    """sha256 of the canonical JSON of `{"changes": [...], "environment": NAME}`, each change as
    `Change.digested` gives it, in plan order: the same changes give the same digest whatever
    the ledger's serial, the files' names or the time."""
    # Hashed piece by piece (sorted keys put "changes" first): a large plan's text is never
    # held whole, and the result is the digest of canonical_json of the whole document.
    hasher = hashlib.sha256(b'{"changes":[')
    separator = b""
    for change in changes:
        hasher.update(separator + _digested_json(change).encode())
        separator = b","
    hasher.update(b'],"environment":' + canonical_json(environment).encode() + b"}")
    return "sha256:" + hasher.hexdigest()


def _digested_json(change: Change) -> str:
    """`canonical_json(change.digested())`; with `after` placed as it is packed when that is
    its canonical JSON already (a payload read from a file): each record is encoded once."""
    after = change.packed_after
    if not isinstance(after, Canonical):
        return canonical_json(change.digested())
    # The keys of `digested`, sorted: action, after, before, envelope, identity, kind.
    return (
        f'{{"action":{canonical_json(change.action.value)},"after":{after},'
        f'"before":{canonical_json(change.before)},"envelope":{canonical_json(change.envelope)},'
        f'"identity":{canonical_json(change.identity)},"kind":{canonical_json(change.kind)}}}'
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


def field_changes(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    *,
    identities: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[FieldChange, ...]:
    """The fields that differ between two payloads, by Redox path (Address.City, Contacts[0]).

    List items are paired before they are compared: by identity where the kind gives the list
    one (`Kind.list_identities`: Contacts by Purpose and Name, say), otherwise by equal value,
    and what is left in place of each other by position. So inserting one contact shows one
    added item, not a change in every contact after it; an item whose place alone changed is
    reported as moved. Paths of items that are there afterwards use their index afterwards."""
    found: list[FieldChange] = []
    _diff(dict(before), dict(after), "", "", identities or {}, found)
    return tuple(sorted(found, key=lambda f: f.path))


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _same(a: Any, b: Any) -> bool:
    # Type too: True == 1 and 1 == 1.0 in Python, never on the wire.
    return type(a) is type(b) and a == b


def _diff(
    a: Any,
    b: Any,
    path: str,
    name: str,
    identities: Mapping[str, tuple[str, ...]],
    found: list[FieldChange],
) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in a:
            if key not in b:
                found.append(FieldChange(_join(path, key), before=a[key], removed=True))
            else:
                _diff(a[key], b[key], _join(path, key), key, identities, found)
        for key in b:
            if key not in a:
                found.append(FieldChange(_join(path, key), after=b[key], added=True))
    elif isinstance(a, list) and isinstance(b, list):
        _diff_list(a, b, path, identities.get(name), identities, found)
    elif not _same(a, b):
        found.append(FieldChange(path, before=a, after=b))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _identities(items: list[Any], keys: tuple[str, ...] | None) -> list[str | None]:
    """Each item's identity (None without one), unique within the list or None."""
    if not keys:
        return [None] * len(items)
    found: list[str | None] = []
    for item in items:
        values = [item.get(k) for k in keys] if isinstance(item, dict) else [None]
        found.append(None if any(v is None for v in values) else _canonical(values))
    counts = Counter(found)
    repeated = {i for i, n in counts.items() if i is not None and n > 1}
    return [None if i in repeated else i for i in found]


def _diff_list(
    a: list[Any],
    b: list[Any],
    path: str,
    keys: tuple[str, ...] | None,
    identities: Mapping[str, tuple[str, ...]],
    found: list[FieldChange],
) -> None:
    ids_a, ids_b = _identities(a, keys), _identities(b, keys)
    where_a = {ident: i for i, ident in enumerate(ids_a) if ident is not None}
    pairs = [(where_a[ident], j) for j, ident in enumerate(ids_b) if ident in where_a]
    paired_a = {i for i, _ in pairs}
    paired_b = {j for _, j in pairs}
    # Items with an identity that the other side lacks were removed or added; the items with
    # none are aligned by value, as a text diff aligns lines.
    rest_a = [i for i, ident in enumerate(ids_a) if ident is None]
    rest_b = [j for j, ident in enumerate(ids_b) if ident is None]
    text_a = {i: _canonical(a[i]) for i in rest_a}
    text_b = {j: _canonical(b[j]) for j in rest_b}
    matcher = difflib.SequenceMatcher(None, list(text_a.values()), list(text_b.values()), False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op in {"equal", "replace"}:
            pairs.extend(zip(rest_a[a1:a2], rest_b[b1:b2], strict=False))
    paired_a.update(i for i, _ in pairs)
    paired_b.update(j for _, j in pairs)
    # An item the alignment left out on both sides, unchanged, moved.
    unpaired_a: dict[str, list[int]] = {}
    for i in rest_a:
        if i not in paired_a:
            unpaired_a.setdefault(text_a[i], []).append(i)
    for j in rest_b:
        if j not in paired_b and unpaired_a.get(text_b[j]):
            i = unpaired_a[text_b[j]].pop(0)
            pairs.append((i, j))
            paired_a.add(i)
            paired_b.add(j)
    for i, item in enumerate(a):
        if i not in paired_a:
            found.append(FieldChange(f"{path}[{i}]", before=item, removed=True))
    for j, item in enumerate(b):
        if j not in paired_b:
            found.append(FieldChange(f"{path}[{j}]", after=item, added=True))
    pairs.sort(key=lambda pair: pair[1])
    in_order = _longest_increasing([i for i, _ in pairs])
    for i, j in pairs:
        if i not in in_order:
            found.append(FieldChange(f"{path}[{j}]", moved_from=f"{path}[{i}]"))
        _diff(a[i], b[j], f"{path}[{j}]", "", identities, found)


def _longest_increasing(seq: list[int]) -> set[int]:
    """The values of a longest increasing subsequence of `seq`: the items that kept their
    order; the others moved."""
    tails: list[int] = []  # index into seq of the smallest tail of each length
    back: list[int] = [-1] * len(seq)
    for k, value in enumerate(seq):
        lo, hi = 0, len(tails)
        while lo < hi:
            mid = (lo + hi) // 2
            if seq[tails[mid]] < value:
                lo = mid + 1
            else:
                hi = mid
        back[k] = tails[lo - 1] if lo else -1
        if lo == len(tails):
            tails.append(k)
        else:
            tails[lo] = k
    kept: set[int] = set()
    k = tails[-1] if tails else -1
    while k != -1:
        kept.add(seq[k])
        k = back[k]
    return kept


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


def unsafe_reason(
    changes: Iterable[Change], ledger: Ledger, fraction: float, minimum: int
) -> str | None:
    """Why the safety guard refuses `changes` against `ledger` without --force (None when it
    does not): they deactivate more than `fraction` of its active records, once it has at
    least `minimum`."""
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

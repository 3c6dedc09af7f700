"""The plan as data (Terraform keeps `plans` types-only): Change, Plan, FieldChange and the plan
digest. Built by build.py, worded by render/. Pure: no I/O."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.formats.jsontext import Canonical, canonical_json, unpack
from reconciler.kinds import kind_of
from reconciler.model import Action, Key, make_key

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

"""What an apply did, as data: one Outcome per change (or per intent an earlier run left), in
the order they happened, what reading the changed records back found, and the final ledger.
render/apply.py words it; the audit trail and notifications read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reconciler.ledger.model import Ledger
from reconciler.model import Key
from reconciler.views.drift import Drift

Status = Literal[
    "applied",
    # A Create answered "already exists" (SPEC 2, ownership): the directory's record was as
    # planned (adopted: no call, or one Update of what a query cannot show); this tool had sent
    # that Create itself, or --adopt-existing was given (overwritten: an Update made it so);
    # or it was created elsewhere (refused: nothing sent).
    "adopted",
    "overwritten",
    "refused",
    "failed",
    "skipped",
    "resolved",
    "dropped",
    "not_started",  # the apply was stopped before this change's call was sent
    "in_flight",  # sent, but stopped before the outcome was known: its intent is left
]


@dataclass(frozen=True)
class Existing:
    """What the directory holds of a record whose Create was refused as created elsewhere."""

    fields: tuple[str, ...] = ()  # paths of the fields a query shows that differ from the plan
    # The directory's ManagingOrg when `managing_org` is set and this differs (or is not shown):
    # such a record is never overwritten or imported, whatever the flags.
    managed_by: str | None = None
    foreign: bool = False  # managing_org is set and the record is not (shown to be) managed by it
    visible: bool = True  # False: Redox says it exists, but a query shows no such record


@dataclass(frozen=True)
class Outcome:
    """What happened to one change (or one intent left by an earlier run). `redox_log_id` and
    `redox_attempt_id` are Meta.Logs[0] of the answer that decided it (the last write's, or the
    refusal's), when Redox answered; `redox_log_ids` those of every write it sent, in order."""

    key: Key
    action: str
    status: Status
    message: str = ""
    redox_log_id: str | None = None
    redox_attempt_id: str | None = None
    redox_log_ids: tuple[str, ...] = ()
    existing: Existing | None = None  # refused: what the directory holds


@dataclass(frozen=True)
class Unverified:
    """A record read back and not shown as applied: how the directory's record differs
    (`drift`: missing, or field by field), or why it could not be read (`error`)."""

    key: Key
    drift: Drift | None = None
    error: str | None = None


@dataclass(frozen=True)
class Verification:
    """What reading back the changed records found (SPEC 2, Verification). "off": not asked
    for; "done": every record was read back; "stopped": the apply was interrupted, and the
    records it did not read back (`left`) stay unverified in the ledger."""

    state: Literal["off", "done", "stopped"]
    checked: int = 0  # the records due to be read back: M of "Verified: N of M."
    unverified: tuple[Unverified, ...] = ()  # read back, and not shown as applied
    left: int = 0  # not read back (the apply was stopped)
    timeout: float = 0.0  # seconds each change was given to become visible

    @property
    def verified(self) -> int:
        return self.checked - len(self.unverified) - self.left

    @property
    def ok(self) -> bool:
        return self.state == "off" or (not self.unverified and not self.left)


@dataclass
class Result:
    """Every outcome of an apply, in the order they happened, what the read-back found, and the
    final ledger."""

    outcomes: list[Outcome] = field(default_factory=list)
    ledger: Ledger | None = None
    interrupted: bool = False  # stopped (a signal) before every change was carried out
    elapsed: float | None = None  # seconds the changes (and their read-back) took, once run
    # The records whose change Redox accepted in this run, in order: what is read back.
    written: list[Key] = field(default_factory=list)
    verification: Verification | None = None  # None: no change was carried out

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def unverified(self) -> list[Key]:
        """The records read back and not shown as applied (the ledger marks them, and those
        not read back, unverified)."""
        found = self.verification.unverified if self.verification is not None else ()
        return [u.key for u in found]

    @property
    def ok(self) -> bool:
        unfinished = {"failed", "refused", "skipped", "not_started", "in_flight"}
        verified = self.verification is None or self.verification.ok
        return (
            not self.interrupted
            and verified
            and not any(o.status in unfinished for o in self.outcomes)
        )

    @property
    def intents_left(self) -> int:
        """Calls whose outcome the next apply must settle (they are in the ledger's intents)."""
        return len(self.ledger.intents) if self.ledger is not None else 0

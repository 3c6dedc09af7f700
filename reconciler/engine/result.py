"""What an apply did, as data: one Outcome per change (or per intent an earlier run left), in
the order they happened, and the final ledger. render/apply.py words it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from reconciler.ledger.model import Ledger
from reconciler.model import Key

Status = Literal[
    "applied",
    "adopted",
    "failed",
    "skipped",
    "resolved",
    "dropped",
    "not_started",  # the apply was stopped before this change's call was sent
    "in_flight",  # sent, but stopped before the outcome was known: its intent is left
]


@dataclass(frozen=True)
class Outcome:
    """What happened to one change (or one intent left by an earlier run)."""

    key: Key
    action: str
    status: Status
    message: str = ""


@dataclass
class Result:
    """Every outcome of an apply, in the order they happened, and the final ledger."""

    outcomes: list[Outcome] = field(default_factory=list)
    ledger: Ledger | None = None
    interrupted: bool = False  # stopped (a signal) before every change was carried out
    elapsed: float | None = None  # seconds the changes took, once run

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def ok(self) -> bool:
        unfinished = {"failed", "skipped", "not_started", "in_flight"}
        return not self.interrupted and not any(o.status in unfinished for o in self.outcomes)

    @property
    def intents_left(self) -> int:
        """Calls whose outcome the next apply must settle (they are in the ledger's intents)."""
        return len(self.ledger.intents) if self.ledger is not None else 0

"""What `audit verify` finds, as data for the renderers (pure: reconciler.audit.verify reads
the trail and git to make it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BadLine:
    """The first line of the trail that is not sound, and why."""

    number: int
    message: str


@dataclass(frozen=True)
class BadVersion:
    """The first version of the trail that does not extend the one before it: committed in
    `commit` (empty for the file in the working tree), after the version of `previous`."""

    commit: str
    previous: str
    date: str
    subject: str
    message: str


@dataclass(frozen=True)
class Verification:
    """What `audit verify` found: the sound lines (up to the first bad one), the first bad
    line, the first committed version that does not extend the one before, anchors the trail
    does not hold, and notes on what was not checked."""

    trail: str
    environment: str
    lines: int
    last_hash: str
    bad_line: BadLine | None = None
    bad_version: BadVersion | None = None
    missing_anchors: tuple[str, ...] = ()
    commits: int = 0  # committed versions compared
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.bad_line is None and self.bad_version is None and not self.missing_anchors

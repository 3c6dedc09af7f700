"""Policies and their results as data: what a vendor writes in reconciler.yaml, and what a plan
did to it. Pure: no CEL here (policy.cel compiles and runs the expressions)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    """Sentinel's three enforcement levels, by other names."""

    ADVISORY = "advisory"  # printed, applied
    SOFT = "soft"  # blocks the apply unless overridden (--override-policy; an approver's review)
    HARD = "hard"  # blocks the apply always


@dataclass(frozen=True)
class Policy:
    """One rule over every change of a plan: `deny` (CEL) true means a violation."""

    name: str
    level: Level
    deny: str
    message: str
    environments: tuple[str, ...] | None = None  # None: every environment
    approvers: tuple[str, ...] = ()  # logins and "@org/team": who may override a soft policy
    line: int = 0  # of `deny` in reconciler.yaml, for errors (0: unknown)

    def applies_to(self, environment: str) -> bool:
        return self.environments is None or environment in self.environments


@dataclass(frozen=True)
class Violation:
    """One change a policy denies, and why (the policy's message, or the evaluation error)."""

    key: str
    identity: str
    action: str
    message: str


@dataclass(frozen=True)
class PolicyResult:
    """A policy evaluated over one plan: every policy has one, its violations possibly none."""

    name: str
    level: Level
    approvers: tuple[str, ...]
    violations: tuple[Violation, ...]

    @property
    def violated(self) -> bool:
        return bool(self.violations)


def violated(results: Iterable[PolicyResult], level: Level) -> list[PolicyResult]:
    """The results of `level` that have violations, in their order."""
    return [r for r in results if r.level is level and r.violations]


def blocking(results: Sequence[PolicyResult], overrides: Iterable[str] = ()) -> list[PolicyResult]:
    """What stops an apply: every violated hard policy, and every violated soft one whose name
    is not in `overrides`."""
    allowed = set(overrides)
    return [
        r
        for r in results
        if r.violations
        and (r.level is Level.HARD or (r.level is Level.SOFT and r.name not in allowed))
    ]


def overridden(results: Sequence[PolicyResult], overrides: Iterable[str]) -> tuple[str, ...]:
    """The violated soft policies that `overrides` lets through: what the audit trail records."""
    allowed = set(overrides)
    return tuple(r.name for r in violated(results, Level.SOFT) if r.name in allowed)

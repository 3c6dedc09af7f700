"""The sync gate's verdict (`reconciler github check-reviewed`) as data: what was decided for
one environment and what the words of it need (github.comment words it)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.plan import Plan
from reconciler.policy import Level, PolicyResult, violated
from reconciler.policy.approvals import ApprovalCheck, Override


class Outcome(StrEnum):
    """What the gate decided. The first three let the environment be applied."""

    PASSED = "passed"  # the reviewed plan, approved as required, no policy in the way
    SKIPPED = "skipped"  # run by hand with skip-review-check: applied as it is
    NOTHING = "nothing"  # the empty plan: nothing to apply
    NO_PULL = "no-pull"  # the commit belongs to no merged pull request
    UNREVIEWED = "unreviewed"  # no plan comment for the head as merged, or none for ENV
    CHANGED = "changed"  # the plan differs from the one reviewed
    UNAPPROVED = "unapproved"  # approvals.ENV is not met
    POLICY_BLOCKED = "policy-blocked"  # a hard violation, or a soft one not overridden


class Unreviewed(StrEnum):
    NO_COMMENT = "no-comment"
    STALE_HEAD = "stale-head"  # the comment is for another head than the one merged
    NO_PLAN = "no-plan"  # the comment holds no plan for the environment (its plan failed)


ALLOWED = frozenset({Outcome.PASSED, Outcome.SKIPPED, Outcome.NOTHING})


@dataclass(frozen=True)
class ReviewVerdict:
    """The gate's decision for one environment, with what its words need."""

    outcome: Outcome
    environment: str
    plan: Plan  # the plan at merge (what apply would apply)
    commit: str = ""  # the newest commit of records
    pull: int | None = None
    comment_url: str = ""
    unreviewed: Unreviewed | None = None
    commented_head: str = ""
    merged_head: str = ""
    reviewed_digest: str = ""
    reviewed_plan: Plan | None = None  # rebuilt from the comment, when it carried the changes
    approvals: ApprovalCheck | None = None
    policies: tuple[PolicyResult, ...] = ()
    overrides: tuple[Override, ...] = ()
    actor: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ALLOWED

    @property
    def digest(self) -> str:
        """The digest apply must see (`--expect-digest`)."""
        return self.plan.digest

    @property
    def overridden(self) -> tuple[str, ...]:
        """The soft policies an approval overrides: apply gets --override-policy for each."""
        return tuple(o.name for o in self.overrides if o.granted)

    @property
    def approved_by(self) -> tuple[str, ...]:
        """Who approved (for the audit trail): the reviews that counted, or the actor of a run
        by hand."""
        if self.outcome is Outcome.SKIPPED:
            return (self.actor,) if self.actor else ()
        return self.approvals.approvers if self.approvals is not None else ()

    @property
    def hard(self) -> list[PolicyResult]:
        return violated(self.policies, Level.HARD)

    @property
    def refused_overrides(self) -> tuple[Override, ...]:
        return tuple(o for o in self.overrides if not o.granted)

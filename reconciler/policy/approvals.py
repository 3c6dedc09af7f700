"""Which reviews approve a pull request's plan, and whether they meet an environment's
`approvals` and override its soft policies (SPEC 5). Pure: the reviews and team memberships
come in as data (reconciler.github reads them).

A review counts when it is its reviewer's latest APPROVED, CHANGES_REQUESTED or DISMISSED
review (COMMENTED changes nothing, as on GitHub), is APPROVED, was given on the head commit as
merged, and is not by the author. A team member counts only when the membership reads
"active"; a membership that could not be read never counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from reconciler.policy.model import Level, PolicyResult

DECIDING = frozenset({"APPROVED", "CHANGES_REQUESTED", "DISMISSED"})
ACTIVE = "active"
PENDING = "pending"
ABSENT = "absent"
UNREADABLE = "unreadable"  # followed by ": why"


@dataclass(frozen=True)
class Review:
    """One review of a pull request, as GitHub lists them (oldest first)."""

    login: str
    state: str
    commit_id: str


@dataclass(frozen=True)
class Ignored:
    """A reviewer whose review does not count, and why."""

    login: str
    reason: str


@dataclass(frozen=True)
class Approvals:
    """The approving reviews that count on a pull request, and those that do not."""

    logins: tuple[str, ...]
    ignored: tuple[Ignored, ...] = ()


def approvals(reviews: Iterable[Review], *, author: str, head_sha: str) -> Approvals:
    """The reviewers whose latest deciding review approves `head_sha`, the author aside."""
    latest: dict[str, Review] = {}
    for review in reviews:
        if review.state in DECIDING:
            latest[review.login] = review
    counted: list[str] = []
    ignored: list[Ignored] = []
    for login, review in latest.items():
        if login == author:
            ignored.append(Ignored(login, "is the pull request's author"))
        elif review.state != "APPROVED":
            state = review.state.lower().replace("_", " ")
            ignored.append(Ignored(login, f"their latest review is {state}"))
        elif review.commit_id != head_sha:
            ignored.append(
                Ignored(
                    login,
                    f"approved {review.commit_id[:7]}, not {head_sha[:7]} as merged: a push "
                    "after an approval voids it",
                )
            )
        else:
            counted.append(login)
    return Approvals(tuple(sorted(counted)), tuple(sorted(ignored, key=lambda i: i.login)))


def is_team(entry: str) -> bool:
    return entry.startswith("@") and "/" in entry


def lookups(allowed: Iterable[str], logins: Iterable[str]) -> set[tuple[str, str]]:
    """The (team, login) memberships to read to decide whether `logins` are among `allowed`:
    only for logins not named directly."""
    entries = set(allowed)
    teams = {e for e in entries if is_team(e)}
    return {(team, login) for login in logins if login not in entries for team in teams}


Memberships = Mapping[tuple[str, str], str]


def _eligible(login: str, allowed: Sequence[str], memberships: Memberships) -> tuple[bool, str]:
    """Whether `login` is among `allowed` (a login, or an active member of a team there), and
    when not, why (the memberships read, or that one could not be read)."""
    if not allowed or login in allowed:
        return True, ""
    why: list[str] = []
    for team in (e for e in allowed if is_team(e)):
        state = memberships.get((team, login), f"{UNREADABLE}: not read")
        if state == ACTIVE:
            return True, ""
        if state.startswith(UNREADABLE):
            why.append(f"the membership of {team} could not be read ({state.split(': ', 1)[-1]})")
        elif state == PENDING:
            why.append(f"their invitation to {team} is still pending")
        else:
            why.append(f"is not a member of {team}")
    return False, "; ".join(why) or "is not in the list"


@dataclass(frozen=True)
class ApprovalCheck:
    """An environment's `approvals` against the approving reviews: who counted, how many are
    still missing, and why the others did not count."""

    required: int
    allowed: tuple[str, ...]
    approvers: tuple[str, ...]
    ignored: tuple[Ignored, ...] = ()
    unreadable: bool = False  # a membership could not be read, so a reviewer may be missing

    @property
    def missing(self) -> int:
        return max(self.required - len(self.approvers), 0)

    @property
    def met(self) -> bool:
        return self.missing == 0


def check_approvals(
    *, required: int, allowed: Sequence[str], found: Approvals, memberships: Memberships
) -> ApprovalCheck:
    """`found`'s approvals that `allowed` lets count, against `required`."""
    counted: list[str] = []
    ignored = list(found.ignored)
    unreadable = False
    for login in found.logins:
        ok, why = _eligible(login, allowed, memberships)
        if ok:
            counted.append(login)
        else:
            ignored.append(Ignored(login, why))
            unreadable = unreadable or "could not be read" in why
    return ApprovalCheck(
        required,
        tuple(allowed),
        tuple(counted),
        tuple(sorted(ignored, key=lambda i: i.login)),
        unreadable,
    )


@dataclass(frozen=True)
class Override:
    """A violated soft policy in the sync: overridden by whom, or why not."""

    name: str
    approvers: tuple[str, ...]  # who may override it (the policy's `approvers`)
    by: tuple[str, ...] = ()  # the approving reviewers among them
    ignored: tuple[Ignored, ...] = field(default=())

    @property
    def granted(self) -> bool:
        return bool(self.by)


def check_overrides(
    results: Sequence[PolicyResult], logins: Sequence[str], memberships: Memberships
) -> tuple[Override, ...]:
    """For each violated soft policy: the approvers among `logins` (reviewers whose approval
    counts) that may override it. A soft policy without `approvers` cannot be overridden by a
    review: only by `apply --override-policy`, run by a person."""
    found: list[Override] = []
    for result in results:
        if result.level is not Level.SOFT or not result.violations:
            continue
        by: list[str] = []
        ignored: list[Ignored] = []
        for login in logins:
            ok, why = (
                _eligible(login, result.approvers, memberships)
                if result.approvers
                else (
                    False,
                    "the policy names no approvers",
                )
            )
            (by.append(login) if ok else ignored.append(Ignored(login, why)))
        found.append(Override(result.name, result.approvers, tuple(by), tuple(ignored)))
    return tuple(found)

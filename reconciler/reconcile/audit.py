"""The audit trail's use cases: record an apply in it, verify it, read it (SPEC 9)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from reconciler.audit import AuditEntry, Call, Result, Verification, calls_of, entry_for, result_of
from reconciler.audit.actor import resolve_actor
from reconciler.errors import AuditError, quoted
from reconciler.reconcile.workspace import Workspace

if TYPE_CHECKING:
    from reconciler.engine.result import Result as ApplyResult
    from reconciler.plan import Plan

_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def record(
    ws: Workspace,
    environ: Mapping[str, str],
    *,
    result: Result,
    plan_digest: str | None,
    calls: Iterable[Call | Mapping[str, Any]],
    commit: str | None,
    pull_request: int | None = None,
    approved_by: Iterable[str] = (),
    policy_overrides: Iterable[str] = (),
) -> AuditEntry:
    """Append one apply's line to the environment's trail, its actor taken from `environ` (the
    process environment, which the CLI reads) and the repository's git user. The caller holds
    the environment's lock, and called `ws.audit_trail().prepare()` under it before sending
    anything."""
    actor = resolve_actor(environ, ws.repo)
    draft = entry_for(
        environment=ws.env_name,
        actor=actor.name,
        via=actor.via,
        result=result,
        commit=commit,
        pull_request=pull_request,
        approved_by=approved_by,
        plan_digest=plan_digest,
        policy_overrides=policy_overrides,
        calls=calls,
    )
    return ws.audit_trail().append(draft)


@dataclass(frozen=True)
class SignOff:
    """Who asked for an apply, as its line in the trail names them: the process environment
    (the actor: GITHUB_ACTOR in a workflow, the git or OS user otherwise), the pull request the
    plan was reviewed on and the approving reviews that the sync's check counted."""

    environ: Mapping[str, str] = field(default_factory=dict)
    pull_request: int | None = None
    approved_by: tuple[str, ...] = ()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> SignOff:
        """The sync passes check-reviewed's findings to apply as RECONCILER_PULL_REQUEST and
        RECONCILER_APPROVED_BY (logins, comma-separated); a local apply has neither."""
        number = environ.get("RECONCILER_PULL_REQUEST", "").strip()
        approvers = environ.get("RECONCILER_APPROVED_BY", "")
        return cls(
            environ=dict(environ),
            pull_request=int(number) if number.isdigit() else None,
            approved_by=tuple(a.strip() for a in approvers.split(",") if a.strip()),
        )


# A change whose outcome says a call reached Redox (or was decided from what it holds): an
# apply with one of these is recorded; one that only settled what an earlier run left is not.
_SENT = frozenset({"applied", "adopted", "overwritten", "failed", "refused", "in_flight"})


def record_apply(
    ws: Workspace,
    sign_off: SignOff,
    *,
    plan: Plan,
    result: ApplyResult,
    commit: str | None,
    policy_overrides: Iterable[str],
) -> AuditEntry | None:
    """The line of an apply that carried out `plan` (None when no change of it reached Redox:
    stopped before its first call). A record the read-back did not see is `unverified`."""
    if not any(o.status in _SENT for o in result.outcomes):
        return None
    verification = result.verification
    unseen = set(result.unverified)
    left = bool(verification is not None and verification.left)
    calls = [
        c.model_copy(update={"status": "unverified"}) if c.key in unseen else c
        for c in calls_of(result.outcomes)
    ]
    return record(
        ws,
        sign_off.environ,
        result=result_of(
            result.outcomes, interrupted=result.interrupted, unverified=bool(unseen) or left
        ),
        plan_digest=plan.digest,
        calls=calls,
        commit=commit,
        pull_request=sign_off.pull_request,
        approved_by=sign_off.approved_by,
        policy_overrides=policy_overrides,
    )


def record_refusal(
    ws: Workspace, sign_off: SignOff, *, plan: Plan, commit: str | None
) -> AuditEntry:
    """The line of an apply refused before any call (the plan is not the reviewed one, an
    approval or a policy override is missing)."""
    return record(
        ws,
        sign_off.environ,
        result="refused",
        plan_digest=plan.digest,
        calls=(),
        commit=commit,
        pull_request=sign_off.pull_request,
        approved_by=sign_off.approved_by,
    )


def verify(ws: Workspace, *, anchors: Sequence[str] = ()) -> Verification:
    """Check the environment's trail: its chain, each committed version against the one
    before, and that it holds a line of each hash in `anchors`."""
    for anchor in anchors:
        if not _HASH.fullmatch(anchor):
            raise AuditError(
                f"--anchor {quoted(anchor)} is not a line's hash: write sha256: and 64 lowercase "
                "hex digits, as `reconciler audit show` prints it"
            )
    from reconciler.audit.verify import verify_trail  # its line expression takes a while to build

    return verify_trail(
        ws.audit_trail(),
        environment=ws.env_name,
        repo=ws.repo,
        relative=ws.audit_shown,
        anchors=anchors,
    )


def entries(ws: Workspace, *, since: str | None = None) -> list[AuditEntry]:
    """The entries of the environment's trail, from `since` on (a `since_time`), oldest first."""
    found = ws.audit_trail().entries()
    return [e for e in found if since is None or e.time >= since]


def since_time(text: str) -> str:
    """`--since`: a date (2026-12-01) or a time with its zone (2026-12-01T10:00:00Z), as the
    trail writes its times (UTC), so that the two compare as text."""
    value = text.strip()
    moment: datetime | None = None
    try:
        if len(value) == 10:
            return date.fromisoformat(value).strftime("%Y-%m-%dT00:00:00Z")
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    if moment is None or moment.utcoffset() is None:
        raise AuditError(
            f"--since {quoted(text)} is not a date: write 2026-12-01, or a time with its zone "
            "such as 2026-12-01T10:00:00Z"
        )
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

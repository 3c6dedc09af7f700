"""The audit trail's use cases: verify it, read it (SPEC 9). Appending is apply's, under the
lock: `Workspace.audit_trail()` gives the trail to append to."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime

from reconciler.audit import AuditEntry, Verification
from reconciler.audit.verify import verify_trail
from reconciler.errors import AuditError, quoted
from reconciler.reconcile.workspace import Workspace

_HASH = re.compile(r"sha256:[0-9a-f]{64}")


def verify(ws: Workspace, *, anchors: Sequence[str] = ()) -> Verification:
    """Check the environment's trail: its chain, each committed version against the one
    before, and that it holds a line of each hash in `anchors`."""
    for anchor in anchors:
        if not _HASH.fullmatch(anchor):
            raise AuditError(
                f"--anchor {quoted(anchor)} is not a line's hash: write sha256: and 64 lowercase "
                "hex digits, as `reconciler audit show` prints it"
            )
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

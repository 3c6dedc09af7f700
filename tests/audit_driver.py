"""A test-only stand-in for the apply that will append to the audit trail: appends COUNT entries
of CALLS calls each to the trail of ENV in REPO, each under the environment's apply lock, and
prints each entry's seq once it is appended (so a test that kills it knows what returned).

Run: python tests/audit_driver.py REPO ENV COUNT CALLS
"""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler.audit import entry_for
from reconciler.reconcile.workspace import Workspace

DIGEST = "sha256:" + "d" * 64


def calls(count: int, seq: int) -> list[dict[str, str]]:
    """`count` calls, long enough together that a line spans pages."""
    return [
        {
            "key": f"organization:2.16.840.1.113883.3.6147.458.{seq}.{n}",
            "action": "update",
            "status": "applied",
            "redox_log_id": f"{seq:08x}-{n:04x}-4000-8000-{seq * 1000 + n:012x}",
        }
        for n in range(count)
    ]


def main(repo: Path, env: str, count: int, per_entry: int) -> None:
    ws = Workspace(repo=repo, env_name=env)
    for number in range(count):
        with ws.ledger_store.lock("apply"):
            trail = ws.audit_trail()
            tail = trail.prepare()
            draft = entry_for(
                environment=env,
                actor="audit-driver",
                via="local",
                result="applied" if number % 5 else "refused",
                plan_digest=DIGEST,
                calls=calls(per_entry, tail.seq + 1) if number % 5 else [],
            )
            entry = trail.append(draft)
        sys.stdout.write(f"{entry.seq}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))

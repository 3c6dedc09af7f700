"""The audit use cases (reconcile/audit.py): an apply's line recorded with its actor, and the
dates `--since` takes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reconciler.errors import AuditError
from reconciler.reconcile import audit
from reconciler.reconcile.workspace import Workspace

DIGEST = "sha256:" + "9" * 64
COMMIT = "fedcba98" * 5


def test_record_appends_the_apply_with_the_workflows_actor(tmp_path: Path) -> None:
    ws = Workspace(repo=tmp_path, env_name="production")
    environ = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "alice"}
    with ws.ledger_store.lock("apply"):
        ws.audit_trail().prepare()
        entry = audit.record(
            ws,
            environ,
            result="applied",
            plan_digest=DIGEST,
            calls=[{"key": "organization:1.2.3", "action": "create", "status": "applied"}],
            commit=COMMIT,
            pull_request=7,
            approved_by=["bob"],
        )
    [line] = [json.loads(t) for t in ws.audit_path.read_text("utf-8").splitlines()]
    assert (line["actor"], line["via"], line["environment"]) == ("alice", "github", "production")
    assert (line["commit"], line["pull_request"], line["approved_by"]) == (COMMIT, 7, ["bob"])
    assert line["calls"] == [
        {"key": "organization:1.2.3", "action": "create", "status": "applied", "redox_log_id": None}
    ]
    assert entry.hash == line["hash"]
    assert [e.seq for e in audit.entries(ws)] == [1]


def test_record_on_a_machine_names_the_git_user(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for key, value in (("user.name", "Dana Admin"), ("user.email", "dana@example.org")):
        subprocess.run(["git", "-C", str(tmp_path), "config", key, value], check=True)
    ws = Workspace(repo=tmp_path, env_name="development")
    entry = audit.record(ws, {}, result="refused", plan_digest=DIGEST, calls=[], commit=None)
    assert (entry.actor, entry.via) == ("Dana Admin <dana@example.org>", "local")
    assert entry.result == "refused"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", "2026-12-01T00:00:00Z"),
        ("2026-12-01T10:00:00Z", "2026-12-01T10:00:00Z"),
        ("2026-12-01T10:00:00+02:00", "2026-12-01T08:00:00Z"),
        (" 2026-12-01 ", "2026-12-01T00:00:00Z"),
    ],
)
def test_since_takes_a_date_or_a_time_with_its_zone(text: str, expected: str) -> None:
    assert audit.since_time(text) == expected


@pytest.mark.parametrize("text", ["2026-13-01", "yesterday", "2026-12-01T10:00:00", ""])
def test_since_refuses_anything_else(text: str) -> None:
    with pytest.raises(AuditError, match="is not a date"):
        audit.since_time(text)

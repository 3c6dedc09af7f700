"""The sync's commit: the ledger and the audit trail go to main in the same commit; an append
that was interrupted is written out first; a trail that cannot be settled stays out and fails
the step, and the ledger is committed all the same."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from reconciler.audit import entry_for
from reconciler.audit.entry import line_text, seal
from reconciler.github import commit_ledger
from reconciler.reconcile.workspace import Workspace

ENV = "development"
LEDGER = "ledger/development.json"
TRAIL = "audit/development.jsonl"
APPLIED = "0123456789abcdef0123456789abcdef01234567"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "d",
            "GIT_AUTHOR_EMAIL": "d@x",
            "GIT_COMMITTER_NAME": "d",
            "GIT_COMMITTER_EMAIL": "d@x",
        },
    )
    return done.stdout.strip()


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A clone of a bare origin whose main has one commit, as the sync's checkout."""
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(origin), str(work))
    (work / "README.md").write_text("records\n", encoding="utf-8")
    git(work, "add", "README.md")
    git(work, "commit", "-q", "-m", "start")
    git(work, "push", "-q", "origin", "HEAD:main")
    return work


def apply_something(ws: Workspace, result: str = "applied") -> None:
    """What an apply leaves: a changed ledger and a line in the trail."""
    ledger = ws.repo / LEDGER
    ledger.parent.mkdir(exist_ok=True)
    ledger.write_text(json.dumps({"records": {"organization:1.2": result}}) + "\n", "utf-8")
    ws.audit_trail().append(
        entry_for(environment=ENV, actor="alice", via="github", result=result)  # type: ignore[arg-type]
    )


def committed_files(repo: Path) -> list[str]:
    return git(repo, "show", "--name-only", "--format=", "HEAD").split()


def commit(ws: Workspace, code: str = "0"):  # type: ignore[no-untyped-def]
    with ws.ledger_store.lock("commit-ledger"):
        return commit_ledger(
            ws.repo,
            LEDGER,
            environment=ENV,
            applied=APPLIED,
            apply_code=code,
            trail=ws.audit_trail(),
            sleep=lambda _seconds: None,
        )


def test_the_ledger_and_the_trail_go_in_one_commit(checkout: Path) -> None:
    ws = Workspace(repo=checkout, env_name=ENV)
    apply_something(ws)
    done = commit(ws)
    assert done.ok, done.lines
    assert sorted(committed_files(checkout)) == [TRAIL, LEDGER]
    subject = git(checkout, "log", "-1", "--format=%s")
    assert subject == f"ledger: {ENV} after applying {APPLIED[:12]} [skip ci]"
    assert f"Committed {LEDGER} and {TRAIL} to main as " in done.lines[-1]
    assert git(checkout, "rev-parse", "HEAD") == git(checkout, "rev-parse", "origin/main")


def test_a_trail_that_alone_changed_is_committed_as_the_audit(checkout: Path) -> None:
    ws = Workspace(repo=checkout, env_name=ENV)
    apply_something(ws)
    assert commit(ws).ok
    # A refused apply: the ledger stays as it is, the trail gets its line.
    refused = entry_for(environment=ENV, actor="alice", via="github", result="refused")
    ws.audit_trail().append(refused)
    done = commit(ws, code="1")
    assert done.ok, done.lines
    assert committed_files(checkout) == [TRAIL]
    assert git(checkout, "log", "-1", "--format=%s") == (
        f"audit: {ENV} after applying {APPLIED[:12]} (apply failed: exit 1) [skip ci]"
    )


def test_an_interrupted_append_is_written_out_before_the_commit(checkout: Path) -> None:
    ws = Workspace(repo=checkout, env_name=ENV)
    apply_something(ws)
    tail = ws.audit_trail().prepare()
    # The apply was killed while appending its line: the record and half the line are left.
    line = line_text(
        seal(
            entry_for(environment=ENV, actor="alice", via="github", result="interrupted"),
            seq=tail.seq + 1,
            prev=tail.hash,
        )
    )
    record = {"trail": TRAIL, "offset": tail.size, "line": line}
    ws.audit_pending_path.parent.mkdir(parents=True, exist_ok=True)
    ws.audit_pending_path.write_text(json.dumps(record) + "\n", "utf-8")
    with (checkout / TRAIL).open("a", encoding="utf-8") as handle:
        handle.write(line[:40])
    done = commit(ws)
    assert done.ok, done.lines
    shown = git(checkout, "show", f"HEAD:{TRAIL}").splitlines()
    assert [json.loads(text)["result"] for text in shown] == ["applied", "interrupted"]


def test_a_trail_that_cannot_be_settled_stays_out_and_the_ledger_goes_in(checkout: Path) -> None:
    ws = Workspace(repo=checkout, env_name=ENV)
    apply_something(ws)
    with (checkout / TRAIL).open("a", encoding="utf-8") as handle:
        handle.write('{"seq": 2, "cut')  # a line an older version left cut short
    done = commit(ws, code="0")
    assert not done.ok
    assert any(
        line.startswith("::error title=Audit trail not committed::") and "cut short" in line
        for line in done.lines
    )
    assert committed_files(checkout) == [LEDGER]


def test_nothing_changed_commits_nothing(checkout: Path) -> None:
    ws = Workspace(repo=checkout, env_name=ENV)
    head = git(checkout, "rev-parse", "HEAD")
    done = commit(ws)
    assert done.ok
    assert done.lines == [f"The {ENV} ledger and audit trail did not change: nothing to commit."]
    assert git(checkout, "rev-parse", "HEAD") == head

"""The report's use case: the audit trail it reads (until the audit package's reader takes its
place), and the page written atomically where --out says."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from factories import Repo

from reconciler import reconcile
from reconciler.errors import ReconcilerError
from reconciler.reconcile.report import audit_path, read_audit


def test_the_audit_trail_is_read_newest_first_and_a_bad_line_is_said(
    repo: Callable[..., Repo],
) -> None:
    made = repo()
    lines = [json.dumps({"seq": n, "result": "applied"}) for n in range(1, 26)]
    lines[22] = "{not json"
    made.write("audit/production.jsonl", "\n".join(lines) + "\n\n")
    env = made.workspace("production").environment
    trail = read_audit(made.root, env, last=20)
    assert trail.exists
    assert trail.total == 25
    assert [entry["seq"] for entry in trail.entries] == [25, 24, *range(22, 5, -1)]
    assert trail.problems == ("audit/production.jsonl, line 23: not a JSON object",)


def test_no_audit_trail_yet_is_not_an_error(repo: Callable[..., Repo]) -> None:
    made = repo()
    trail = read_audit(made.root, made.workspace("development").environment, last=20)
    assert (trail.exists, trail.path, trail.entries) == (False, "audit/development.jsonl", ())
    assert audit_path(made.workspace("sandbox").environment) == ".reconciler/sandbox/audit.jsonl"


def test_the_page_is_written_whole_into_the_folder(
    repo: Callable[..., Repo], org: Callable[..., dict[str, Any]], tmp_path: Path
) -> None:
    made = repo({"a": org(1)})
    found = reconcile.gather_report(made.workspace("development"))
    assert found.status.environments == ("development", "production")
    assert found.history_notes == (
        f"{made.root} is not in a git repository with a commit: no history.",
    )
    folder = tmp_path / "deep" / "site"
    written = reconcile.save_report(folder, iter(["<!doctype html>", "<p>page</p>"]))
    assert written == folder / "index.html"
    assert written.read_text() == "<!doctype html><p>page</p>"
    if os.name == "posix":  # readable by all: a page to publish
        assert written.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in folder.iterdir()) == ["index.html"]


def test_a_page_that_fails_halfway_leaves_the_old_one(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    reconcile.save_report(folder, ["old page"])

    def pieces() -> Any:
        yield "new "
        raise ReconcilerError("the records could not be read")

    with pytest.raises(ReconcilerError):
        reconcile.save_report(folder, pieces())
    assert (folder / "index.html").read_text() == "old page"
    assert sorted(p.name for p in folder.iterdir()) == ["index.html"]

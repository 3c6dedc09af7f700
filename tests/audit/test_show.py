"""`reconciler audit show`: the trail as text, JSON and CSV (read back with Python's csv module,
as a spreadsheet would), from a date on."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from sandbox_server import run_cli

from reconciler.audit import entry_for
from reconciler.reconcile.workspace import Workspace
from reconciler.render import render_audit_csv, render_audit_text

ENV = "production"
DIGEST = "sha256:" + "5" * 64
COMMIT = "89abcdef" * 5


def call(n: int, status: str = "applied", log: str | None = "log") -> dict[str, object]:
    return {
        "key": f"organization:2.16.840.1.113883.3.6147.458.{n}",
        "action": "update" if n else "create",
        "status": status,
        "redox_log_id": f"{log}-{n}" if log else None,
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A trail of three applies: on 1 December (two calls), a refused one on 3 December, and on
    5 December (three calls, one failed)."""
    ws = Workspace(repo=tmp_path, env_name=ENV)
    trail = ws.audit_trail()
    with ws.ledger_store.lock("apply"):
        for time, result, calls in (
            ("2026-12-01T09:30:00Z", "applied", [call(0), call(1)]),
            ("2026-12-03T16:00:00Z", "refused", []),
            ("2026-12-05T08:15:00Z", "partial", [call(2), call(3, "failed", None), call(4)]),
        ):
            trail.append(
                entry_for(
                    environment=ENV,
                    actor="alice",
                    via="github",
                    result=result,  # type: ignore[arg-type]
                    commit=COMMIT,
                    pull_request=42,
                    approved_by=["bob", "carol"],
                    plan_digest=DIGEST,
                    policy_overrides=["deactivation-sign-off"] if result == "partial" else [],
                    calls=calls,
                    time=time,
                )
            )
    return tmp_path


def show(repo: Path, *args: str) -> str:
    done = run_cli(repo, "audit", "show", "--env", ENV, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_csv_parses_back_one_row_per_call_with_the_plan_digest(repo: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(show(repo, "--format", "csv"), newline="")))
    calls = [row for row in rows if row["key"]]
    assert len(calls) == 5  # one row per call
    assert [row["key"].rsplit(".", 1)[1] for row in calls] == ["0", "1", "2", "3", "4"]
    assert {row["plan_digest"] for row in rows} == {DIGEST}
    first = calls[0]
    assert (first["seq"], first["time"], first["actor"], first["via"]) == (
        "1",
        "2026-12-01T09:30:00Z",
        "alice",
        "github",
    )
    assert (first["commit"], first["pull_request"], first["approved_by"]) == (
        COMMIT,
        "42",
        "bob; carol",
    )
    assert (first["action"], first["status"]) == ("create", "applied")
    assert first["redox_log_id"] == "log-0"
    assert calls[3]["status"] == "failed"
    assert calls[3]["redox_log_id"] == ""
    assert calls[3]["policy_overrides"] == "deactivation-sign-off"
    # The refused apply sent no call: it is one row with empty call columns, so it shows too.
    [refused] = [row for row in rows if not row["key"]]
    assert (refused["seq"], refused["result"], refused["action"]) == ("2", "refused", "")
    assert len(rows) == 6
    assert all(row["hash"].startswith("sha256:") for row in rows)


def test_since_keeps_the_entries_from_that_date_on(repo: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(show(repo, "--format", "csv", "--since", "2026-12-03"))))
    assert sorted({row["seq"] for row in rows}) == ["2", "3"]
    text = show(repo, "--since", "2026-12-04T00:00:00+01:00")
    assert "#3  2026-12-05T08:15:00Z  partial  by alice (github)" in text
    assert "#2 " not in text
    assert "1 entry since 2026-12-03T23:00:00Z" in text


def test_a_bad_since_is_refused_with_the_forms_it_takes(repo: Path) -> None:
    done = run_cli(repo, "audit", "show", "--env", ENV, "--since", "last week")
    assert done.returncode == 1
    assert "--since 'last week' is not a date: write 2026-12-01" in done.stderr


def test_the_text_names_who_what_and_on_whose_approval(repo: Path) -> None:
    text = show(repo)
    assert text.startswith(f"Audit trail of {ENV} (audit/{ENV}.jsonl): 3 entries.")
    assert "#1  2026-12-01T09:30:00Z  applied  by alice (github)" in text
    assert f"    commit {COMMIT[:12]}, pull request #42, approved by bob, carol" in text
    assert f"    plan {DIGEST}" in text
    created = "    create organization:2.16.840.1.113883.3.6147.458.0: applied  Redox log log-0"
    assert created in text
    assert "    no call was sent" in text
    assert "    policies overridden: deactivation-sign-off" in text
    assert "--anchor sha256:" in text


def test_the_json_is_the_trails_entries(repo: Path) -> None:
    document = json.loads(show(repo, "--format", "json"))
    assert (document["environment"], document["trail"]) == (ENV, f"audit/{ENV}.jsonl")
    entries = document["entries"]
    assert [e["seq"] for e in entries] == [1, 2, 3]
    trail = (repo / "audit" / f"{ENV}.jsonl").read_text("utf-8")
    on_disk = [json.loads(line) for line in trail.splitlines()]
    assert entries == on_disk
    assert list(entries[0])[:3] == ["seq", "time", "environment"]  # SPEC 9's order


def test_a_bad_line_stops_show_naming_it(repo: Path) -> None:
    path = repo / "audit" / f"{ENV}.jsonl"
    text = path.read_text("utf-8").splitlines()
    text[1] = text[1].replace('"result":"refused"', '"result":"applied"')
    path.write_text("\n".join(text) + "\n", "utf-8")
    done = run_cli(repo, "audit", "show", "--env", ENV)
    assert done.returncode == 1
    assert f"audit/{ENV}.jsonl, line 2: does not match its hash" in done.stderr
    assert f"reconciler audit verify --env {ENV}" in done.stderr


def test_an_empty_trail_shows_no_entry() -> None:
    assert render_audit_text([], environment=ENV, trail="audit/p.jsonl").startswith(
        "Audit trail of production (audit/p.jsonl): 0 entries."
    )
    assert list(csv.DictReader(io.StringIO(render_audit_csv([])))) == []


def test_hostile_text_cannot_run_in_a_spreadsheet_or_a_terminal(tmp_path: Path) -> None:
    ws = Workspace(repo=tmp_path, env_name=ENV)
    actor = '=HYPERLINK("http://evil.example","click")'
    ws.audit_trail().append(
        entry_for(
            environment=ENV,
            actor=actor,
            via="local",
            result="applied",
            approved_by=["@admin", "\x1b[31mred\x1b[0m"],
            calls=[call(1, log="+1-555")],
        )
    )
    [row] = list(csv.DictReader(io.StringIO(show(tmp_path, "--format", "csv"))))
    assert row["actor"] == "'" + actor  # a text, not a formula
    # Control characters are written as escapes, in the CSV as on a terminal (the JSON keeps
    # them as they are).
    assert row["approved_by"] == "'@admin; \\x1b[31mred\\x1b[0m"
    assert row["redox_log_id"] == "'+1-555-1"
    text = show(tmp_path)
    assert "\x1b" not in text
    assert "\\x1b[31mred\\x1b[0m" in text

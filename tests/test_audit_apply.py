"""The audit trail as apply writes it (SPEC 9), through a real subprocess of the CLI: a line per
apply that sent a call or was refused, who applied it, the Redox log ID of each call as the
sandbox answered it, and a trail that `audit verify` accepts and `audit show` exports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sandbox_server import clean_environ, example_repo, run_cli

ENV_FILE = ".reconciler/sandbox/audit.jsonl"  # the built-in sandbox environment's trail


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout.strip()


def lines_of(repo: Path) -> list[dict[str, Any]]:
    path = repo / ENV_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def logged_ids(repo: Path) -> dict[str, list[str]]:
    """The Meta.Logs[0].ID the sandbox answered each write with, by OID (its request log)."""
    found: dict[str, list[str]] = {}
    log = repo / ".reconciler" / "sandbox" / "requests.jsonl"
    for entry in (json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()):
        if entry.get("event_type") in {"New", "Update"} and entry.get("log_id"):
            found.setdefault(str(entry.get("oid")), []).append(str(entry["log_id"]))
    return found


@pytest.fixture
def records(tmp_path: Path) -> Path:
    repo = example_repo(tmp_path / "repo")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Dana Reyes")
    git(repo, "config", "user.email", "dana@example.org")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "Records")
    return repo


def local() -> dict[str, str]:
    """The environment of a run on an engineer's machine (never a workflow's)."""
    return clean_environ({"GITHUB_ACTIONS": "false", "GITHUB_ACTOR": "", "NO_COLOR": "1"})


def test_applies_and_a_refusal_leave_a_chain_that_verifies(records: Path) -> None:
    first = run_cli(records, "apply", "--yes", environ=local())
    assert first.returncode == 0, first.stdout + first.stderr
    [one] = lines_of(records)
    assert (one["seq"], one["result"], one["via"]) == (1, "applied", "local")
    assert one["actor"] == "Dana Reyes <dana@example.org>"
    assert one["commit"] == git(records, "rev-parse", "HEAD")
    assert one["plan_digest"].startswith("sha256:")
    assert one["pull_request"] is None
    assert one["approved_by"] == []
    assert len(one["calls"]) == 7  # the example's 5 organizations and 2 providers
    assert all(c["status"] == "applied" for c in one["calls"])
    # Each call's ID is the one the sandbox answered that call with.
    answered = logged_ids(records)
    for call in one["calls"]:
        oid = call["key"].split(":", 1)[1]
        if oid in answered:
            assert call["redox_log_id"] == answered[oid][-1]
    assert all(c["redox_log_id"] for c in one["calls"])

    again = run_cli(records, "apply", "--yes", environ=local())
    assert again.returncode == 0
    assert len(lines_of(records)) == 1  # nothing to do: no line

    clinic = records / "orgs" / "madison-east-clinic.yaml"
    clinic.write_text(clinic.read_text().replace("Madison East", "Madison Eastside"))
    refused = run_cli(
        records, "apply", "--yes", "--expect-digest", "sha256:" + "0" * 64, environ=local()
    )
    assert refused.returncode == 1
    in_workflow = clean_environ(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTOR": "alice",
            "RECONCILER_PULL_REQUEST": "42",
            "RECONCILER_APPROVED_BY": "bob,carol",
        }
    )
    applied = run_cli(records, "apply", "--yes", environ=in_workflow)
    assert applied.returncode == 0, applied.stdout + applied.stderr

    lines = lines_of(records)
    assert [line["result"] for line in lines] == ["applied", "refused", "applied"]
    assert lines[1]["calls"] == []
    assert lines[1]["plan_digest"] == lines[2]["plan_digest"]  # the plan it refused
    assert (lines[2]["actor"], lines[2]["via"]) == ("alice", "github")
    assert (lines[2]["pull_request"], lines[2]["approved_by"]) == (42, ["bob", "carol"])
    assert [c["action"] for c in lines[2]["calls"]] == ["update"]
    assert [line["prev"] for line in lines[1:]] == [line["hash"] for line in lines[:-1]]

    verified = run_cli(records, "audit", "verify", environ=local())
    assert verified.returncode == 0, verified.stdout + verified.stderr
    exported = run_cli(records, "audit", "show", "--format", "csv", environ=local())
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert len([r for r in rows if r["key"]]) == 7 + 1  # one row per call
    assert all(r["plan_digest"] for r in rows)


def test_a_policy_refusal_and_an_override_are_in_the_trail(records: Path) -> None:
    settings = records / "reconciler.yaml"
    settings.write_text(
        settings.read_text()
        + "policies:\n"
        + "  - {name: no-creates, level: soft, deny: 'change.action == \"create\"', message: m}\n"
    )
    refused = run_cli(records, "apply", "--yes", environ=local())
    assert refused.returncode == 1
    assert [line["result"] for line in lines_of(records)] == ["refused"]
    assert not (records / ".reconciler" / "sandbox" / "requests.jsonl").exists()

    applied = run_cli(records, "apply", "--yes", "--override-policy", "no-creates", environ=local())
    assert applied.returncode == 0, applied.stdout + applied.stderr
    last = lines_of(records)[-1]
    assert (last["result"], last["policy_overrides"]) == ("applied", ["no-creates"])


def test_a_trail_cut_short_refuses_the_apply_before_any_call(records: Path) -> None:
    assert run_cli(records, "apply", "--yes", environ=local()).returncode == 0
    trail = records / ENV_FILE
    trail.write_text(trail.read_text() + '{"seq": 2, "cu', encoding="utf-8")
    sent_before = (records / ".reconciler" / "sandbox" / "requests.jsonl").read_text()
    clinic = records / "orgs" / "madison-east-clinic.yaml"
    clinic.write_text(clinic.read_text().replace("Madison East", "Madison Eastside"))

    refused = run_cli(records, "apply", "--yes", environ=local())

    assert refused.returncode == 1
    assert ENV_FILE in refused.stderr, refused.stderr
    assert "ends with a line cut short" in refused.stderr, refused.stderr
    assert (records / ".reconciler" / "sandbox" / "requests.jsonl").read_text() == sent_before

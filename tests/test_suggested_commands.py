"""Every message that suggests a command names one that works in that situation: each test
brings a situation about, takes the `reconciler ...` commands the message names, runs them as
written (FILE, a placeholder, becomes a path) and checks they did what the message says.

Known gap: a saved plan of another format version says `reconciler plan --out` without FILE
(reconciler/plan/saved.py, plan_from_document)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from factories import Repo, organization
from sandbox_local import behind_the_back, json_of, ok, run
from sandbox_server import on_a_terminal

from reconciler.audit import entry_for
from reconciler.errors import AuditError
from reconciler.github import parse_report, tracked
from reconciler.reconcile.workspace import Workspace
from reconciler.render.drift_issue import render_drift_issue

COMMAND = re.compile(r"`(reconciler [^`]+)`")


def suggested(text: str) -> list[list[str]]:
    """The commands a message names, as argv without the leading `reconciler`."""
    found = [shlex.split(c)[1:] for c in COMMAND.findall(text)]
    assert found, f"no command suggested in: {text}"
    return found


def with_file(argv: list[str], path: Path) -> list[str]:
    return [str(path) if a == "FILE" else a for a in argv]


def applied(repo: Any, *orgs: dict[str, Any]) -> Path:
    made: Repo = repo({f"clinic-{o['oid'].rsplit('.', 1)[1]}": o for o in orgs})
    ok(made.root, "apply", "--yes")
    return made.root


def test_a_removed_file(repo: Any) -> None:
    root = applied(repo, organization(1), organization(2))
    (root / "orgs" / "clinic-1.yaml").unlink()
    message = run(root, "plan").stderr
    (command,) = suggested(message)
    ok(root, *command)
    ok(root, "plan", "--detailed-exitcode")


def test_an_import_that_found_no_file(repo: Any) -> None:
    root = applied(repo, organization(1), organization(2))
    (root / "orgs" / "clinic-1.yaml").unlink()
    (command,) = suggested(ok(root, "import", "--oid", organization(1)["oid"]).stdout)
    ok(root, *command)
    ok(root, "plan", "--detailed-exitcode")


def test_drift(repo: Any) -> None:
    org = organization(1)
    root = applied(repo, org)

    def rename(record: dict[str, Any]) -> None:
        record["Name"] = "Changed Behind The Back"

    behind_the_back(root, org["oid"], rename)
    report = ok(root, "drift", code=2).stdout
    review, repair = sorted(suggested(report), key=lambda argv: argv[0] != "plan")
    assert "Name" in ok(root, *review).stdout
    done = on_a_terminal(root, *repair, answer="yes\n")
    assert done.returncode == 0, done.stdout + done.stderr
    ok(root, "drift")


def test_a_saved_plan_of_another_environment(repo: Any, tmp_path: Path) -> None:
    made: Repo = repo({"clinic-1": organization(1)})
    saved = tmp_path / "plan.json"
    (told,) = suggested(ok(made.root, "plan", "--out", str(saved)).stderr)
    refused = run(made.root, "apply", "--env", "development", "--yes", str(saved))
    assert refused.exit_code == 1
    (command,) = suggested(refused.stderr)
    assert command == told
    done = on_a_terminal(made.root, *command, answer="yes\n")
    assert done.returncode == 0, done.stdout + done.stderr
    ok(made.root, "plan", "--detailed-exitcode")


def test_a_stale_saved_plan(repo: Any, tmp_path: Path) -> None:
    made: Repo = repo({"clinic-1": organization(1)})
    saved = tmp_path / "plan.json"
    ok(made.root, "plan", "--out", str(saved))
    made.org("clinic-2", organization(2))
    ok(made.root, "apply", "--yes", "--target", organization(2)["oid"])
    refused = run(made.root, "apply", "--yes", str(saved))
    assert refused.exit_code == 1
    (command,) = suggested(refused.stderr)
    fresh = tmp_path / "fresh.json"
    ok(made.root, *with_file(command, fresh))
    ok(made.root, "apply", "--yes", str(fresh))
    ok(made.root, "plan", "--detailed-exitcode")


def test_an_apply_that_needs_yes(repo: Any) -> None:
    made: Repo = repo({"clinic-1": organization(1)})
    refused = run(made.root, "apply")
    assert refused.exit_code == 1
    (command,) = suggested(refused.stderr)
    assert "Plan: 1 to create" in ok(made.root, *command).stdout


def _audited(root: Path) -> Workspace:
    ws = Workspace(repo=root, env_name="development")
    for result in ("applied", "refused"):
        ws.audit_trail().append(
            entry_for(environment="development", actor="dana", via="local", result=result)
        )
    return ws


def test_an_audit_trail_cut_short(tmp_path: Path) -> None:
    ws = _audited(tmp_path)
    with ws.audit_path.open("a", encoding="utf-8") as handle:
        handle.write('{"seq": 3, "cu')
    with pytest.raises(AuditError) as refused:
        ws.audit_trail().prepare()
    (command,) = suggested(str(refused.value))
    assert "line 3: is cut short" in ok(tmp_path, *command, code=1).output


def test_the_hash_an_auditor_keeps(tmp_path: Path) -> None:
    _audited(tmp_path)
    (command,) = suggested(ok(tmp_path, "audit", "show", "--env", "development").output)
    assert "--anchor" in command
    assert "Verified." in ok(tmp_path, *command).output


def test_the_drift_issue(repo: Any) -> None:
    kept, restored = organization(1), organization(2)
    root = applied(repo, kept, restored)

    def rename(record: dict[str, Any]) -> None:
        record["Name"] = "Changed Behind The Back"

    behind_the_back(root, kept["oid"], rename)
    behind_the_back(root, restored["oid"], rename)
    report = parse_report(ok(root, "drift", "--format", "json", code=2).stdout, shown="drift")
    records = tracked([], report, now="2025-06-01T06:17:00Z")
    body = render_drift_issue(
        "sandbox",
        records,
        checked=report.checked,
        ledgered=report.ledgered,
        part=report.part,
        checked_at="2025-06-01T06:17:00Z",
        run_url=None,
    )
    commands = suggested(body)
    # The files' version back, for one record: review, then apply it.
    repair = [c for c in commands if c[0] == "apply" and restored["oid"] in c]
    review = next(c for c in commands if c[0] == "plan")
    assert "Changed Behind The Back" in ok(root, *review).stdout
    done = on_a_terminal(root, *repair[0], answer="yes\n")
    assert done.returncode == 0, done.stdout + done.stderr
    still = {d["identity"] for d in json_of(root, "drift", code=2)["drift"]}
    assert still == {kept["oid"]}
    # The directory's version kept, for the other: its value written into the file.
    assert "write the directory's values above into `orgs/clinic-1.yaml`" in body
    path = root / "orgs" / "clinic-1.yaml"
    path.write_text(path.read_text().replace(kept["name"], "Changed Behind The Back"))
    ok(root, "apply", "--yes")
    ok(root, "drift")
    ok(root, "plan", "--detailed-exitcode")

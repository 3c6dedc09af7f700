"""`reconciler apply` end to end: the in-process sandbox (through the CLI), and `sandbox serve`
where a test needs its admin hooks. Every assertion is on what reached the directory (the
sandbox's request log and journal) and on the ledger, never on internals."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from factories import PARENT, organization_text
from sandbox_server import (
    ServedSandbox,
    assert_valid_requests,
    desired_wire,
    example_repo,
    ledger_doc,
    on_a_terminal,
    run_cli,
    served_sandbox,
    set_key,
)

from reconciler import reconcile
from reconciler.cli import cli
from reconciler.reconcile.workspace import Workspace

MADISON = f"{PARENT}.1"
ROCKFORD = f"{PARENT}.2"
ROCHESTER = f"{PARENT}.3"
PAT = "4356789876"
WRITES = {"New", "Update", "Deactivate", "Activate"}
READS = {"Query", "ProviderQuery"}


def invoke(repo: Path, *args: str, stdin: str | None = None) -> Result:
    """`reconciler ARGS --repo REPO` in this process (stdin is not a terminal)."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("REDOX_")}
    return CliRunner().invoke(cli, [*args, "--repo", str(repo)], env=unset, input=stdin)


def sandbox_log(repo: Path) -> list[dict[str, Any]]:
    """The in-process sandbox's request log, oldest first."""
    path = repo / ".reconciler" / "sandbox" / "requests.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def subject(entry: dict[str, Any]) -> str:
    """What a logged request is about: its OID or provider identity."""
    return str(entry.get("oid") or entry.get("identity"))


def writes(entries: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(data model, event, subject) of each write request."""
    return [
        (e["data_model"], e["event_type"], subject(e))
        for e in entries
        if e["path"] == "/endpoint" and e["event_type"] in WRITES
    ]


def reads(entries: list[dict[str, Any]]) -> list[str]:
    """The subject of each query (the read-back after an apply, among others)."""
    return [subject(e) for e in entries if e["path"] == "/endpoint" and e["event_type"] in READS]


def planned(repo: Path, env: str = "sandbox") -> list[tuple[str, str]]:
    """(action, identity) of every change a fresh plan holds."""
    return [
        (c.action.value, c.identity)
        for c in reconcile.plan(Workspace(repo=repo, env_name=env)).changes
    ]


def assert_plan_empty(repo: Path, *, env: str = "sandbox") -> None:
    result = invoke(repo, "plan", "--detailed-exitcode", "--env", env)
    assert result.exit_code == 0, result.output


def assert_no_intents(repo: Path, env: str = "sandbox") -> None:
    assert ledger_doc(repo, env)["intents"] == {}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return example_repo(tmp_path / "repo")


@pytest.fixture
def applied(repo: Path) -> Path:
    """The example repository, applied once to the in-process sandbox."""
    result = invoke(repo, "apply", "--yes")
    assert result.exit_code == 0, result.output
    return repo


# -- the in-process sandbox -----------------------------------------------------------------


def test_apply_sends_one_call_per_change_then_plan_is_empty(repo: Path) -> None:
    changes = planned(repo)
    assert len(changes) == 7

    result = invoke(repo, "apply", "--yes")

    assert result.exit_code == 0, result.output
    assert "Apply complete: 7 applied (0 already in the directory), 0 failed, 0 skipped." in (
        result.stdout
    )
    log = sandbox_log(repo)
    # Exactly one call per planned change, then one query per change reads it back: nothing
    # else (no retry) was sent.
    identities = sorted(identity for _, identity in changes)
    assert len(log) == 2 * len(changes)
    calls, read_back = log[: len(changes)], log[len(changes) :]
    assert sorted(subject(e) for e in calls) == identities
    assert {e["event_type"] for e in calls} == {"New"}
    assert sorted(reads(read_back)) == identities
    assert all(e["status"] == 200 and e["outcome"] == "ok" for e in log)
    assert "Verified: 7 of 7." in result.stdout
    assert_valid_requests([e["body"] for e in log])
    # One log line per call on stderr when it is not a terminal.
    assert result.stderr.count("applied: create ") == 7
    assert_plan_empty(repo)
    ledger = ledger_doc(repo, "sandbox")
    assert len(ledger["records"]) == 7
    assert ledger["intents"] == {}


def test_a_no_op_apply_sends_nothing(applied: Path) -> None:
    before = sandbox_log(applied)

    result = invoke(applied, "apply", "--yes")

    assert result.exit_code == 0, result.output
    assert "No changes" in result.stdout
    assert sandbox_log(applied) == before


def test_changing_one_city_sends_exactly_one_update(applied: Path) -> None:
    before = len(sandbox_log(applied))
    set_key(applied / "orgs" / "rockford-family-medicine.yaml", "city", "Loves Park")

    result = invoke(applied, "apply", "--yes")

    assert result.exit_code == 0, result.output
    new = sandbox_log(applied)[before:]
    assert writes(new) == [("Organization", "Update", ROCKFORD)]
    assert reads(new) == [ROCKFORD]  # read back
    assert len(new) == 2
    body = new[0]["body"]
    assert body["Action"] == "Update"
    assert body["Organizations"][0]["Address"]["City"] == "Loves Park"
    assert body["Organizations"][0] == desired_wire(applied, "sandbox")["organization"][ROCKFORD]
    assert_valid_requests([body])
    assert_plan_empty(applied)


def test_deactivation_is_one_update_carrying_the_full_record(applied: Path) -> None:
    before = len(sandbox_log(applied))
    created = next(e for e in sandbox_log(applied) if e["oid"] == MADISON)["body"]
    set_key(applied / "orgs" / "madison-east-clinic.yaml", "active", "false")
    assert planned(applied) == [("deactivate", MADISON)]

    result = invoke(applied, "apply", "--yes")

    assert result.exit_code == 0, result.output
    new = sandbox_log(applied)[before:]
    assert writes(new) == [("Organization", "Update", MADISON)]
    record = new[0]["body"]["Organizations"][0]
    assert record["Active"] is False
    # The whole record, not a patch: everything the New carried, with Active flipped.
    assert record == {**created["Organizations"][0], "Active": False}
    assert {"Name", "Identifiers", "Contacts", "Address", "PartOf", "Type"} <= set(record)
    assert_valid_requests([new[0]["body"]])
    assert_plan_empty(applied)
    assert ledger_doc(applied, "sandbox")["records"][f"organization:{MADISON}"]["status"] == (
        "inactive"
    )

    set_key(applied / "orgs" / "madison-east-clinic.yaml", "active", "true")
    assert invoke(applied, "apply", "--yes").exit_code == 0
    again = sandbox_log(applied)[before + 2 :]
    assert writes(again) == [("Organization", "Update", MADISON)]
    assert reads(again) == [MADISON]
    assert again[0]["body"]["Organizations"][0] == created["Organizations"][0]
    assert_plan_empty(applied)


def test_parents_are_created_before_their_children(repo: Path) -> None:
    # Three levels: the gateway's child, its clinics, and a department of one clinic.
    grandchild = f"{MADISON}.7"
    (repo / "orgs" / "madison-east-lab.yaml").write_text(
        organization_text(grandchild, "Northwind Madison East Lab", part_of=MADISON),
        encoding="utf-8",
    )

    result = invoke(repo, "apply", "--yes", "--concurrency", "16")

    assert result.exit_code == 0, result.output
    order = [subject(e) for e in sandbox_log(repo) if e["event_type"] == "New"]
    assert order.index(PARENT) < min(
        order.index(child) for child in (MADISON, ROCKFORD, ROCHESTER, f"{PARENT}.4")
    )
    assert order.index(MADISON) < order.index(grandchild)
    assert_plan_empty(repo)


def test_an_update_the_directory_refuses_fails_alone(applied: Path) -> None:
    # The directory lost a record (its journal no longer has it): an Update of it is refused.
    journal = applied / ".reconciler" / "sandbox" / "directory.jsonl"
    kept = [
        line
        for line in journal.read_text(encoding="utf-8").splitlines(keepends=True)
        if json.loads(line)["identity"] != ROCKFORD
    ]
    journal.write_text("".join(kept), encoding="utf-8")
    set_key(applied / "orgs" / "rockford-family-medicine.yaml", "city", "Loves Park")
    set_key(applied / "orgs" / "rochester-specialty-center.yaml", "city", "Byron")
    before = len(sandbox_log(applied))

    result = invoke(applied, "apply", "--yes")

    assert result.exit_code == 1, result.output
    assert "1 applied (0 already in the directory), 1 failed, 0 skipped." in result.stdout
    assert f"id: {ROCKFORD} is not valid." in result.stdout
    new = sandbox_log(applied)[before:]
    assert sorted((subject(e), e["status"]) for e in new if e["event_type"] in WRITES) == [
        (ROCKFORD, 403),
        (ROCHESTER, 200),
    ]
    assert reads(new) == [ROCHESTER]  # only what Redox accepted is read back
    assert f"(Redox log ID: {next(e for e in new if e['status'] == 403)['log_id']})" in (
        result.stdout
    )
    # The refused call did not land: no intent is left, and the plan still holds the update.
    assert_no_intents(applied)
    assert planned(applied) == [("update", ROCKFORD)]


def test_target_applies_the_record_and_the_ancestors_it_needs(repo: Path) -> None:
    result = invoke(repo, "apply", "--yes", "--target", MADISON)

    assert result.exit_code == 0, result.output
    assert writes(sandbox_log(repo)) == [
        ("Organization", "New", PARENT),
        ("Organization", "New", MADISON),
    ]
    remaining = {identity for _, identity in planned(repo)}
    assert remaining == {ROCKFORD, ROCHESTER, f"{PARENT}.4", PAT, "1647839210"}

    # A target that already exists needs no ancestor: only the provider is sent.
    result = invoke(repo, "apply", "--yes", "--target", PAT)
    assert result.exit_code == 0, result.output
    assert writes(sandbox_log(repo))[2:] == [("Provider", "New", PAT)]

    unknown = invoke(repo, "apply", "--yes", "--target", "1.2.3.4")
    assert unknown.exit_code == 1
    assert "--target names no record" in unknown.stderr
    assert len(writes(sandbox_log(repo))) == 3
    assert reads(sandbox_log(repo)) == [PARENT, MADISON, PAT]


def test_a_saved_plan_is_applied_exactly(repo: Path, tmp_path: Path) -> None:
    saved = tmp_path / "p.json"
    assert invoke(repo, "plan", "--out", str(saved)).exit_code == 0
    # Edited after the plan was saved: the saved plan, not the files, is what gets applied.
    set_key(repo / "orgs" / "rockford-family-medicine.yaml", "city", "Loves Park")

    result = invoke(repo, "apply", str(saved), "--yes")

    assert result.exit_code == 0, result.output
    log = [e for e in sandbox_log(repo) if e["event_type"] in WRITES]
    plan_doc = json.loads(saved.read_text(encoding="utf-8"))
    assert sorted(subject(e) for e in log) == sorted(c["identity"] for c in plan_doc["changes"])
    sent = next(e for e in log if e["oid"] == ROCKFORD)["body"]["Organizations"][0]
    assert sent["Address"]["City"] == "Rockford"
    assert planned(repo) == [("update", ROCKFORD)]


def test_a_saved_plan_older_than_the_last_apply_is_refused_as_stale(
    applied: Path, tmp_path: Path
) -> None:
    set_key(applied / "orgs" / "rockford-family-medicine.yaml", "city", "Loves Park")
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert invoke(applied, "plan", "--out", str(first)).exit_code == 0
    assert invoke(applied, "plan", "--out", str(second)).exit_code == 0
    assert invoke(applied, "apply", str(first), "--yes").exit_code == 0
    before = sandbox_log(applied)

    result = invoke(applied, "apply", str(second), "--yes")

    assert result.exit_code == 1
    assert "another apply ran since" in result.stderr
    assert sandbox_log(applied) == before


def test_apply_off_a_terminal_needs_yes(repo: Path) -> None:
    result = invoke(repo, "apply", stdin="yes\n")

    assert result.exit_code == 1
    assert "needs --yes" in result.stderr
    assert "no terminal" in result.stderr
    assert sandbox_log(repo) == []
    assert not Workspace(repo=repo, env_name="sandbox").ledger_store.path.exists()


@pytest.mark.posix
def test_on_a_terminal_apply_asks_and_only_yes_applies(repo: Path) -> None:
    refused = on_a_terminal(repo, "apply", answer="y\n")
    assert refused.returncode == 1, refused.stderr
    assert "Apply cancelled: nothing was sent." in refused.stdout
    assert "Plan: 7 to create" in refused.stdout
    assert sandbox_log(repo) == []

    accepted = on_a_terminal(repo, "apply", answer="yes\n", stderr_too=True)
    assert accepted.returncode == 0, accepted.stderr
    assert len(writes(sandbox_log(repo))) == 7
    # On a terminal: a progress bar, rewritten in place, instead of a log line per call.
    assert re.search(r"\r\x1b\[K\[#{24}\] 7/7  [0-9.]+ calls/s  0:00 left", accepted.stderr)
    assert "\napplied: create " not in accepted.stderr
    # The summary ends with the time the apply took.
    assert re.search(r"Apply complete: 7 applied .*\. Took [0-9.]+s\.$", accepted.stdout, re.M)
    assert_plan_empty(repo)


@pytest.mark.posix
def test_protected_production_needs_yes_even_on_a_terminal(repo: Path) -> None:
    off_terminal = invoke(repo, "apply", "--env", "production")
    on_terminal = on_a_terminal(repo, "apply", "--env", "production", answer="yes\n")

    assert off_terminal.exit_code == 1
    assert "needs --yes because it is protected" in off_terminal.stderr
    assert on_terminal.returncode == 1
    assert "needs --yes because it is protected" in on_terminal.stderr
    assert "Apply these changes" not in on_terminal.stdout  # it did not even ask


# -- against `sandbox serve` (real HTTP, real authentication, admin hooks) ------------------


def _wire(served: ServedSandbox, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(repo, *args, environ=served.environ())


@pytest.fixture
def served(tmp_path: Path) -> Any:
    with served_sandbox(tmp_path / "served") as server:
        yield server


def test_apply_through_sandbox_serve_with_real_auth(served: ServedSandbox, repo: Path) -> None:
    done = _wire(served, repo, "apply", "--yes", "--env", "development")

    assert done.returncode == 0, done.stderr
    log = served.requests()
    assert log[0]["path"] == "/v2/auth/token"
    assert log[0]["status"] == 200
    endpoint = [e for e in log if e["path"] == "/endpoint"]
    assert len(writes(endpoint)) == 7
    assert len(reads(endpoint)) == 7  # each change read back
    assert all(e["status"] == 200 for e in endpoint)
    assert_valid_requests([e["body"] for e in endpoint])
    want = desired_wire(repo, "development")
    assert served.organizations() == want["organization"]
    assert served.providers() == want["provider"]
    assert set(served.creations().values()) == {1}
    assert (
        _wire(served, repo, "plan", "--env", "development", "--detailed-exitcode").returncode == 0
    )


def test_a_failed_record_skips_its_dependants_only(repo: Path, tmp_path: Path) -> None:
    broken, child = "2.16.840.1.113883.3.6147.458.777", "2.16.840.1.113883.3.6147.458.777.1"
    (repo / "orgs" / "broken.yaml").write_text(
        organization_text(broken, "Broken Parent"), encoding="utf-8"
    )
    (repo / "orgs" / "broken-child.yaml").write_text(
        organization_text(child, "Child Of Broken", part_of=broken), encoding="utf-8"
    )
    # Every file validates; Redox refuses the parent anyway (its 500 "duplicate business").
    with served_sandbox(tmp_path / "refusing", refuse=broken) as refusing:
        result = _wire(refusing, repo, "apply", "--yes", "--env", "development")
        log = [e for e in refusing.requests() if e["path"] == "/endpoint"]
        plan_after = planned(repo, "development")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Apply complete: 7 applied (0 already in the directory), 1 failed, 1 skipped." in (
        result.stdout
    )
    assert f"failed: create organization:{broken}: " in result.stdout
    assert "Your Organization Source contains a duplicate business!" in result.stdout
    assert f"skipped: create organization:{child}: a record it depends on failed" in (result.stdout)
    refused = [e for e in log if e["status"] != 200]
    assert [(subject(e), e["status"]) for e in refused] == [(broken, 500)]
    assert child not in {subject(e) for e in log}
    assert len([e for e in log if e["status"] == 200 and e["event_type"] in WRITES]) == 7
    assert f"(Redox log ID: {refused[0]['log_id']})" in result.stdout
    ledger = ledger_doc(repo, "development")
    assert len(ledger["records"]) == 7
    assert ledger["intents"] == {}
    assert plan_after == [("create", broken), ("create", child)]

    # Once Redox takes it, the next apply creates both, parent first.
    with served_sandbox(tmp_path / "refusing") as accepting:
        offset = accepting.log_size()
        result = _wire(accepting, repo, "apply", "--yes", "--env", "development")
        assert result.returncode == 0, result.stdout + result.stderr
        assert writes(accepting.logged_since(offset)) == [
            ("Organization", "New", broken),
            ("Organization", "New", child),
        ]


def _precreate(served: ServedSandbox, repo: Path, oid: str, **changes: Any) -> dict[str, Any]:
    record = dict(desired_wire(repo, "development")["organization"][oid])
    record.update(changes)
    served.put_organization(record)
    return record


def _calls_about(served: ServedSandbox, oid: str) -> list[tuple[str, int]]:
    return [
        (e["event_type"], e["status"])
        for e in served.requests()
        if e["path"] == "/endpoint" and e["oid"] == oid
    ]


def test_a_create_answered_already_exists_is_adopted_when_equal(
    served: ServedSandbox, repo: Path
) -> None:
    _precreate(served, repo, ROCKFORD)

    done = _wire(served, repo, "apply", "--yes", "--env", "development")

    assert done.returncode == 0, done.stderr
    assert "7 applied (1 already in the directory), 0 failed" in done.stdout
    assert _calls_about(served, ROCKFORD) == [("New", 403), ("Query", 200)]
    assert served.creations().get(ROCKFORD, 0) == 0  # no New ever succeeded for it
    assert max(served.creations().values()) == 1
    assert served.organizations() == desired_wire(repo, "development")["organization"]
    assert_no_intents(repo, "development")
    assert (
        _wire(served, repo, "plan", "--env", "development", "--detailed-exitcode").returncode == 0
    )


def test_a_create_answered_already_exists_is_refused_when_different(
    served: ServedSandbox, repo: Path
) -> None:
    # Someone else registered it: never overwritten without --adopt-existing (SPEC 2; the
    # whole of ownership is tests/test_apply_ownership.py).
    theirs = _precreate(served, repo, ROCKFORD, Name="Rockford Clinic (registered elsewhere)")

    done = _wire(served, repo, "apply", "--yes", "--env", "development")

    assert done.returncode == 1, done.stderr
    assert "6 applied (0 already in the directory), 0 failed, 1 refused: created elsewhere" in (
        done.stdout
    )
    assert _calls_about(served, ROCKFORD) == [("New", 403), ("Query", 200)]
    assert served.organizations()[ROCKFORD] == theirs
    assert_valid_requests([e["body"] for e in served.requests() if e["path"] == "/endpoint"])
    assert_no_intents(repo, "development")
    assert planned(repo, "development") == [("create", ROCKFORD)]


def test_a_create_answered_already_exists_is_updated_when_a_query_cannot_prove_it_equal(
    served: ServedSandbox, repo: Path
) -> None:
    # Registered elsewhere without the endpoint: a query never shows Endpoints, so what it
    # shows matches, yet only an Update makes the directory hold the record as the file says.
    oid = f"{PARENT}.9"
    endpoint = "endpoints:\n  - name: Northwind XCA\n    address: https://xca.example.org\n"
    text = organization_text(oid, "Northwind XCA Gateway", extra=endpoint)
    (repo / "orgs" / "xca.yaml").write_text(text, encoding="utf-8")
    elsewhere = {
        k: v
        for k, v in desired_wire(repo, "development")["organization"][oid].items()
        if k != "Endpoints"
    }
    served.put_organization(elsewhere)

    done = _wire(served, repo, "apply", "--yes", "--env", "development")

    assert done.returncode == 0, done.stderr
    assert "8 applied (1 already in the directory)" in done.stdout
    assert _calls_about(served, oid) == [
        ("New", 403),
        ("Query", 200),
        ("Update", 200),
        ("Query", 200),  # read back
    ]
    assert served.organizations()[oid] == desired_wire(repo, "development")["organization"][oid]
    assert (
        _wire(served, repo, "plan", "--env", "development", "--detailed-exitcode").returncode == 0
    )


def test_refused_credentials_stop_the_run_after_the_first_refusal(
    served: ServedSandbox, tmp_path: Path
) -> None:
    # Twenty records that need no other: only the credential stands between them and Redox.
    repo = tmp_path / "independent"
    (repo / "orgs").mkdir(parents=True)
    for n in range(1, 21):
        oid = f"2.16.840.1.113883.3.6147.458.4242.{n}"
        (repo / "orgs" / f"clinic-{n}.yaml").write_text(organization_text(oid, f"Clinic {n}"))
    environ = served.environ({"REDOX_KEY_ID": "a-key-redox-does-not-know"})

    done = run_cli(
        repo, "apply", "--yes", "--env", "development", "--concurrency", "1", environ=environ
    )

    assert done.returncode == 1
    assert "0 applied (0 already in the directory), 1 failed, 19 skipped." in done.stdout
    assert "Redox refused the client credentials (HTTP 401): Public key not found" in done.stdout
    assert done.stdout.count("not sent: authentication failed on an earlier call") == 19
    # One refusal is enough: the other nineteen records did not each ask for a token.
    log = served.requests()
    assert [(e["path"], e["status"]) for e in log] == [("/v2/auth/token", 401)]
    assert ledger_doc(repo, "development")["intents"] == {}
    assert len(planned(repo, "development")) == 20

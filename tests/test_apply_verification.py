"""The risk: a `200` taken for a listing (issue 20; SPEC 2, Verification). `reconciler sandbox
serve` delays or drops what it accepted, the CLI applies as a subprocess over HTTP, reads back
what changed, and `status` and `verify` tell what the directory did not show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sandbox_server import (
    ServedSandbox,
    desired_wire,
    generated_repo,
    ledger_doc,
    run_cli,
    served_sandbox,
    set_key,
    write_settings,
)

from reconciler import reconcile
from reconciler.reconcile.workspace import Workspace

ENV = "development"
ROOT = "2.16.840.1.113883.3.6147.458.31500"
CHILDREN = 5
RECORDS = CHILDREN + 1
LOST = f"{ROOT}.3"  # the record whose change never shows (when a test says so)


def make_repo(path: Path, *, timeout: float = 5, enabled: bool = True) -> Path:
    repo = generated_repo(path, children=CHILDREN, root=ROOT)
    write_settings(repo, verify={"enabled": enabled, "timeout": timeout})
    return repo


def run(served: ServedSandbox, repo: Path, *args: str) -> Any:
    return run_cli(repo, *args, "--env", ENV, environ=served.environ())


def queries_after_writes(served: ServedSandbox) -> list[str]:
    """The OIDs queried after the last write of the log (the read-back)."""
    log = [e for e in served.requests() if e["path"] == "/endpoint"]
    last_write = max(i for i, e in enumerate(log) if e["event_type"] in ("New", "Update"))
    return [e["oid"] for e in log[last_write + 1 :] if e["event_type"] == "Query"]


def marked(repo: Path) -> list[str]:
    """The records the ledger marks unverified."""
    return sorted(k for k, r in ledger_doc(repo, ENV)["records"].items() if r.get("unverified"))


def status_of(repo: Path) -> dict[str, str]:
    done = run_cli(repo, "status", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {r["identity"]: r["status"][ENV] for r in json.loads(done.stdout)["records"]}


def test_a_change_the_directory_shows_at_once_is_verified(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with served_sandbox(tmp_path / "served") as served:
        done = run(served, repo, "apply", "--yes")

        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Verified: {RECORDS} of {RECORDS}." in done.stdout
        assert sorted(queries_after_writes(served)) == sorted(
            desired_wire(repo, ENV)["organization"]
        )
    assert marked(repo) == []
    assert ledger_doc(repo, ENV)["version"] == 1
    assert set(status_of(repo).values()) == {"in sync"}


def test_a_change_that_shows_within_the_timeout_is_verified(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", timeout=5)
    with served_sandbox(tmp_path / "served", visibility_delay=2) as served:
        done = run(served, repo, "apply", "--yes")

        assert done.returncode == 0, done.stdout + done.stderr
        assert f"Verified: {RECORDS} of {RECORDS}." in done.stdout
        asked = queries_after_writes(served)
        # Asked again while not yet visible, but never for a record already seen.
        assert len(asked) > RECORDS
        assert set(asked) == set(desired_wire(repo, ENV)["organization"])
    assert marked(repo) == []


def test_a_change_never_shown_is_unverified_until_the_directory_catches_up(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", timeout=2)
    key = f"organization:{LOST}"
    with served_sandbox(tmp_path / "served", never_visible=[LOST]) as served:
        done = run(served, repo, "apply", "--yes")

        assert done.returncode == 1, done.stdout + done.stderr
        assert "0 failed, 0 skipped." in done.stdout  # Redox accepted every call
        assert f"Verified: {RECORDS - 1} of {RECORDS}." in done.stdout
        assert (
            f"unverified: {key} (orgs/clinic-0003.yaml): missing from the directory after 2s"
            in done.stdout
        )
        assert f"`reconciler verify --env {ENV}`" in done.stdout
        assert marked(repo) == [key]
        assert ledger_doc(repo, ENV)["version"] == 2
        # The ledger keeps what Redox accepted: nothing is sent again.
        assert reconcile.plan(Workspace(repo=repo, env_name=ENV)).empty
        assert status_of(repo)[LOST] == "unverified"
        assert {s for oid, s in status_of(repo).items() if oid != LOST} == {"in sync"}
        shown = run_cli(repo, "show", "--env", ENV).stdout
        assert [line for line in shown.splitlines() if ", unverified)" in line] == [
            next(line for line in shown.splitlines() if LOST + " " in line)
        ]

        still = run(served, repo, "verify")
        assert still.returncode == 1, still.stdout + still.stderr
        assert "Verified: 0 of 1." in still.stdout
        assert f"unverified: {key} (orgs/clinic-0003.yaml): missing from the directory" in (
            still.stdout
        )

        # The directory catches up: the change shows at last.
        served.put_organization(desired_wire(repo, ENV)["organization"][LOST])
        caught_up = run(served, repo, "verify")

        assert caught_up.returncode == 0, caught_up.stdout + caught_up.stderr
        assert "Verified: 1 of 1." in caught_up.stdout
        assert marked(repo) == []
        assert ledger_doc(repo, ENV)["version"] == 1
        assert status_of(repo)[LOST] == "in sync"
        nothing = run(served, repo, "verify")
        assert nothing.returncode == 0
        assert f"Nothing to verify: no record of {ENV} is unverified." in nothing.stdout


def test_a_change_stored_differently_is_unverified_with_its_fields(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", timeout=1)
    with served_sandbox(tmp_path / "served", store_differently=[LOST]) as served:
        done = run(served, repo, "apply", "--yes")

        assert done.returncode == 1, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith("  unverified:"))
        assert "different in the directory after 1s" in lines[at]
        assert lines[at + 1].strip() == 'Name: "Generated Clinic 3" -> "GENERATED CLINIC 3"'

        # verify --all reads back every ledgered record, and marks by what it sees.
        every = run(served, repo, "verify", "--all")
        assert every.returncode == 1
        assert f"Verified: {RECORDS - 1} of {RECORDS}." in every.stdout
        assert marked(repo) == [f"organization:{LOST}"]


def test_an_update_is_read_back_too(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", timeout=1)
    with served_sandbox(tmp_path / "served", never_visible=[LOST]) as served:
        assert run(served, repo, "apply", "--yes").returncode == 1
        served.put_organization(desired_wire(repo, ENV)["organization"][LOST])
        assert run(served, repo, "verify").returncode == 0
        set_key(repo / "orgs" / "clinic-0003.yaml", "city", "Verona")
        set_key(repo / "orgs" / "clinic-0001.yaml", "active", "false")

        done = run(served, repo, "apply", "--yes")

        # The Update of LOST is accepted and never shown; the deactivation shows.
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Verified: 1 of 2." in done.stdout
        assert '      Address.City: "Verona" -> "Madison"' in done.stdout
        assert marked(repo) == [f"organization:{LOST}"]


@pytest.mark.parametrize("how", ["--no-verify", "verify.enabled: false"])
def test_verification_can_be_turned_off(tmp_path: Path, how: str) -> None:
    repo = make_repo(tmp_path / "repo", enabled=how != "verify.enabled: false")
    flags = ("--no-verify",) if how == "--no-verify" else ()
    with served_sandbox(tmp_path / "served", never_visible=[LOST]) as served:
        done = run(served, repo, "apply", "--yes", *flags)

        assert done.returncode == 0, done.stdout + done.stderr
        assert "Not verified: verification is off." in done.stdout
        assert "Verified:" not in done.stdout
        assert queries_after_writes(served) == []
    assert marked(repo) == []


def test_a_failed_records_error_line_carries_its_redox_log_id(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with served_sandbox(tmp_path / "served", refuse=[LOST]) as served:
        done = run(served, repo, "apply", "--yes")

        assert done.returncode == 1
        refused = [e for e in served.requests() if e["oid"] == LOST and e["event_type"] == "New"]
        assert [e["status"] for e in refused] == [500] * len(refused)
        line = next(x for x in done.stdout.splitlines() if x.startswith("  failed:"))
        assert f"organization:{LOST}" in line
        assert line.endswith(f"(Redox log ID: {refused[-1]['log_id']})")

"""import --oid OID --write-yaml for a record that is in the ledger but has no file (SPEC 2,
"Import semantics"): the file is written from the ledger's last applied payload, every field
(endpoints and destination_id included), so that the plan is empty afterwards. Removing the
file of an inactive record is allowed, and the plan says so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from factories import Repo, organization
from sandbox_local import ok, run

ENDPOINTS = [
    {"name": "XCPD", "address": "https://clinic.example/xcpd", "mime_type": "application/xml"},
    {"name": "XCA", "address": "https://clinic.example/xca"},
]


def test_a_ledgered_record_whose_file_is_gone_is_written_back_from_the_ledger(
    repo: Any,
) -> None:
    clinic = organization(1, endpoints=ENDPOINTS, aliases=["Clinic One"], destination_id="dest-1")
    made: Repo = repo({"clinic-one": clinic, "clinic-two": organization(2)})
    ok(made.root, "apply", "--yes")
    path = made.root / "orgs" / "clinic-one.yaml"
    original = yaml.safe_load(path.read_text(encoding="utf-8"))
    path.unlink()

    refused = run(made.root, "plan")
    assert refused.exit_code == 1
    command = f"reconciler import --env sandbox --oid {clinic['oid']} --write-yaml"
    assert f"`{command}`" in refused.stderr

    out = ok(made.root, *command.split()[1:]).stdout
    assert f"wrote the file of organization:{clinic['oid']} from the ledger" in out
    assert "(orgs/clinic-one.yaml)" in out  # where it was last applied from
    assert yaml.safe_load(path.read_text(encoding="utf-8")) == original
    ok(made.root, "plan", "--detailed-exitcode")
    ok(made.root, "validate")
    # Nothing was sent to the directory to do it: only the apply's two calls and their
    # read-back are logged.
    log = (made.root / ".reconciler" / "sandbox" / "requests.jsonl").read_text().splitlines()
    assert len(log) == 4


def test_without_write_yaml_import_says_how_to_write_the_file(repo: Any) -> None:
    made: Repo = repo({"clinic-one": organization(1), "clinic-two": organization(2)})
    ok(made.root, "apply", "--yes")
    (made.root / "orgs" / "clinic-one.yaml").unlink()
    oid = organization(1)["oid"]
    out = ok(made.root, "import", "--oid", oid).stdout
    assert f"already in the ledger, but no file holds organization:{oid}" in out
    command = f"reconciler import --env sandbox --oid {oid} --write-yaml"
    assert f"`{command}`" in out
    ok(made.root, *command.split()[1:])
    ok(made.root, "plan", "--detailed-exitcode")


def _ledgered_in(made: Repo, env: str, clinic: dict[str, Any]) -> None:
    made.org("clinic", clinic)
    made.settle(env)


def test_destination_id_is_written_per_environment_when_the_ledgers_differ(repo: Any) -> None:
    """development and production last applied different DestinationIDs (and the sandbox, which
    is local, yet another): the file gets a mapping, and both plans are empty. No credentials
    are needed: nothing is looked up."""
    made: Repo = repo({})
    clinic = organization(1, endpoints=ENDPOINTS)
    _ledgered_in(made, "development", {**clinic, "destination_id": "dev-destination"})
    _ledgered_in(made, "production", {**clinic, "destination_id": "prod-destination"})
    _ledgered_in(made, "sandbox", {**clinic, "destination_id": "sandbox-destination"})
    (made.root / "orgs" / "clinic.yaml").unlink()

    ok(made.root, "import", "--env", "development", "--oid", clinic["oid"], "--write-yaml")
    written = yaml.safe_load((made.root / "orgs" / "clinic.yaml").read_text(encoding="utf-8"))
    assert written["destination_id"] == {
        "development": "dev-destination",
        "production": "prod-destination",
    }
    assert written["endpoints"] == ENDPOINTS
    for env in ("development", "production"):
        ok(made.root, "plan", "--env", env, "--detailed-exitcode")


def test_destination_id_is_one_value_when_every_ledger_agrees(repo: Any) -> None:
    made: Repo = repo({})
    clinic = organization(1, destination_id="same-destination")
    _ledgered_in(made, "development", clinic)
    _ledgered_in(made, "production", clinic)
    (made.root / "orgs" / "clinic.yaml").unlink()
    ok(made.root, "import", "--env", "production", "--oid", clinic["oid"], "--write-yaml")
    written = yaml.safe_load((made.root / "orgs" / "clinic.yaml").read_text(encoding="utf-8"))
    assert written["destination_id"] == "same-destination"
    ok(made.root, "plan", "--env", "development", "--detailed-exitcode")
    ok(made.root, "plan", "--env", "production", "--detailed-exitcode")


def test_a_record_the_directory_must_be_asked_about_still_needs_credentials(
    repo: Any, tmp_path: Path
) -> None:
    made: Repo = repo({"clinic": organization(1)})
    result = run(made.root, "import", "--env", "development", "--from-files")
    assert result.exit_code == 1
    assert "needs credentials" in result.stderr


def test_the_plan_mentions_inactive_records_whose_file_was_removed(repo: Any) -> None:
    made: Repo = repo({"keep": organization(1), "retired": organization(2, active=False)})
    made.settle()
    (made.root / "orgs" / "retired.yaml").unlink()
    oid = organization(2)["oid"]
    text = ok(made.root, "plan", "--detailed-exitcode").stdout
    assert f"Note: 1 inactive record has no file; the ledger keeps it: organization {oid}." in (
        text
    )
    markdown = ok(made.root, "plan", "--format", "markdown").stdout
    assert f"_Note: 1 inactive record has no file; the ledger keeps it: organization {oid}._" in (
        markdown
    )

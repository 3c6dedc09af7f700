"""import (SPEC 2): adopt what the directory already holds into the ledger, never sending a New;
--write-yaml writes files that validate and round-trip."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import GATEWAY, organization_payload
from sandbox_local import (
    assert_logged_bodies_valid,
    cli_process,
    events,
    fields_of,
    json_of,
    logged,
    ok,
    run,
    sandbox,
    sandbox_dir,
    served,
)

from reconciler.kinds import kind_of
from reconciler.ledger import lock as ledger_lock
from reconciler.reconcile.workspace import Workspace
from reconciler.records.loader import load_file
from reconciler.records.settings import load_settings

PARENT = "2.16.840.1.113883.3.6147.458.42.1"
CHILDREN = [f"{PARENT}.{n}" for n in range(1, 50)]
OIDS = [PARENT, *CHILDREN]
ORPHANS = "2.16.840.1.113883.3.6147.458.43"  # OIDs the files do not hold

PARENT_FILE = f"""\
oid: {PARENT}
name: Lakeside Health
aliases: [Lakeside, LH]
type: Implementer
part_of: {GATEWAY}
contacts:
  - purpose: Technical
    name: Lakeside Interoperability
    email_addresses: [interop@lakeside.example]
    phone_number: {{work: "+16085550100"}}
address: {{street_address: 1 Lake St, city: Madison, state: WI, zip: "53703", country: USA}}
"""


def child_file(n: int) -> str:
    return (
        f"oid: {PARENT}.{n}\n"
        f"name: Lakeside Clinic {n}\n"
        "type: Connection\n"
        f"part_of: {PARENT}\n"
        f'identifiers: [{{id: "{n}", id_type: FACID}}]\n'
        f'address: {{city: Madison, state: WI, zip: "537{n:02d}", country: USA}}\n'
    )


# A directory record that no file holds (wire form): organization_payload with one contact and
# a street address.
org_record = functools.partial(
    organization_payload,
    Contacts=[
        {
            "Purpose": "Technical",
            "Name": "Support",
            "EmailAddresses": ["support@example.com"],
            "PhoneNumber": {"Work": "+16085550199"},
        }
    ],
    Address={"StreetAddress": "2 Lake St", "City": "Madison", "State": "WI", "ZIP": "53703"},
)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """50 records in orgs/, all in the sandbox directory, none in the ledger: applied by a
    repository that then lost its ledger."""
    repo = tmp_path_factory.mktemp("template")
    (repo / "orgs").mkdir()
    (repo / "orgs" / "lakeside-health.yaml").write_text(PARENT_FILE, encoding="utf-8")
    for n in range(1, 50):
        (repo / "orgs" / f"clinic-{n}.yaml").write_text(child_file(n), encoding="utf-8")
    ok(repo, "apply", "--yes")
    assert sorted(sandbox(repo).organizations()) == sorted(OIDS)
    (sandbox_dir(repo) / "ledger.json").unlink()
    (sandbox_dir(repo) / "requests.jsonl").unlink()
    return repo


@pytest.fixture
def unledgered(template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the template: the directory holds all 50 records, the ledger none."""
    copy = tmp_path / "repo"
    shutil.copytree(template, copy)
    return copy


def ledger_of(repo: Path) -> dict[str, Any]:
    """The records of the sandbox ledger."""
    ledger = json.loads((sandbox_dir(repo) / "ledger.json").read_text(encoding="utf-8"))
    records: dict[str, Any] = ledger["records"]
    return records


def test_import_from_files_adopts_every_record_and_sends_no_new(unledgered: Path) -> None:
    result = ok(unledgered, "import", "--from-files")
    assert "Imported 50 records into the sandbox ledger." in result.stdout
    assert f"adopted organization:{PARENT} (orgs/lakeside-health.yaml)" in result.stdout
    sent = events(logged(unledgered))
    assert sent == [("Organization", "Query")] * 50
    records = ledger_of(unledgered)
    assert sorted(records) == sorted(f"organization:{oid}" for oid in OIDS)
    assert records[f"organization:{PARENT}"]["source"] == "orgs/lakeside-health.yaml"

    ok(unledgered, "plan", "--detailed-exitcode")
    ok(unledgered, "drift")
    # Run again: everything is already ledgered, nothing is queried or adopted twice.
    mark = len(logged(unledgered))
    assert "Imported 0 records" in ok(unledgered, "import", "--from-files").stdout
    assert logged(unledgered)[mark:] == []
    assert_logged_bodies_valid(logged(unledgered))


def test_import_takes_a_differing_record_as_the_directory_holds_it(unledgered: Path) -> None:
    changed, dormant, unknown = CHILDREN[6], CHILDREN[7], f"{PARENT}.99"
    box = sandbox(unledgered)
    record = box.organizations()[dormant]
    box.put_organization(record | {"Active": False})
    clinic_7 = unledgered / "orgs" / "clinic-7.yaml"
    clinic_7.write_text(child_file(7).replace("city: Madison", "city: Middleton"), "utf-8")
    (unledgered / "orgs" / "clinic-99.yaml").write_text(child_file(99), encoding="utf-8")

    out = ok(unledgered, "import", "--from-files").stdout
    assert (
        f"adopted organization:{changed} as the directory holds it: the plan will update it" in out
    )
    assert f"adopted organization:{dormant} as the directory holds it" in out
    assert f"not in the directory: organization:{unknown} (the plan will create it)" in out
    assert "Imported 50 records" in out
    assert events(logged(unledgered)) == [("Organization", "Query")] * 51
    records = ledger_of(unledgered)
    assert records[f"organization:{changed}"]["payload"]["Address"]["City"] == "Madison"
    assert records[f"organization:{dormant}"]["status"] == "inactive"
    assert f"organization:{unknown}" not in records

    plan = json_of(unledgered, "plan")
    changes = {(c["action"], c["identity"]): c for c in plan["changes"]}
    assert set(changes) == {("create", unknown), ("update", changed), ("reactivate", dormant)}
    assert fields_of(changes["update", changed]) == [("Address.City", "Madison", "Middleton")]

    mark = len(logged(unledgered))
    ok(unledgered, "apply", "--yes")
    # Three calls, then each record read back.
    assert sorted(events(logged(unledgered)[mark:])) == sorted(
        [("Organization", "New"), ("Organization", "Update"), ("Organization", "Update")]
        + [("Organization", "Query")] * 3
    )
    ok(unledgered, "plan", "--detailed-exitcode")
    ok(unledgered, "drift")
    assert_logged_bodies_valid(logged(unledgered))


def test_import_keeps_what_a_query_cannot_return_as_the_files_say(unledgered: Path) -> None:
    # A record whose file sends Endpoints and DestinationID, and whose directory copy differs
    # in a field a query does return: only that field is planned.
    oid = f"{PARENT}.77"
    text = child_file(77) + (
        "destination_id: 0f3c5a8e-2b7d-4c19-9e6a-1d2f3b4c5d6e\n"
        "endpoints:\n  - {name: XCPD, address: 'https://lakeside.example/xcpd'}\n"
    )
    (unledgered / "orgs" / "clinic-77.yaml").write_text(text, encoding="utf-8")
    ok(unledgered, "import", "--from-files")  # adopts the 50; 77 is not in the directory yet
    ok(unledgered, "apply", "--yes")
    (sandbox_dir(unledgered) / "ledger.json").unlink()
    box = sandbox(unledgered)
    record = box.organizations()[oid]
    record["Address"]["City"] = "Verona"
    box.put_organization(record)

    ok(unledgered, "import", "--from-files")
    entry = ledger_of(unledgered)[f"organization:{oid}"]
    assert entry["payload"]["Address"]["City"] == "Verona"
    assert entry["payload"]["DestinationID"] == "0f3c5a8e-2b7d-4c19-9e6a-1d2f3b4c5d6e"
    assert entry["payload"]["Endpoints"] == [
        {"Name": "XCPD", "Address": "https://lakeside.example/xcpd"}
    ]
    [change] = json_of(unledgered, "plan")["changes"]
    assert change["action"] == "update"
    assert [f["path"] for f in change["fields"]] == ["Address.City"]
    assert_logged_bodies_valid(logged(unledgered))


def test_import_oid_write_yaml_writes_files_that_validate_and_round_trip(unledgered: Path) -> None:
    ok(unledgered, "import", "--from-files")
    first, second = f"{ORPHANS}.1", f"{ORPHANS}.2"
    box = sandbox(unledgered)
    # Both named like an existing file; the first also holds what a query never returns.
    hidden = {
        "Endpoints": [{"Name": "XCPD", "Address": "https://lakeside.example/xcpd"}],
        "DestinationID": "0f3c5a8e-2b7d-4c19-9e6a-1d2f3b4c5d6e",
    }
    box.put_organization(org_record(first, "Lakeside Health", Aliases=["LH East"], **hidden))
    box.put_organization(
        org_record(second, "Lakeside Health")
        | {"Type": {"System": "urn:carequality:type", "Value": "Connection"}}
    )
    mark = len(logged(unledgered))

    out = ok(unledgered, "import", "--oid", first, "--oid", second, "--write-yaml").stdout
    assert f"adopted organization:{first} (orgs/lakeside-health-2.yaml)" in out
    assert f"adopted organization:{second} (orgs/lakeside-health-3.yaml)" in out
    assert events(logged(unledgered)[mark:]) == [("Organization", "Query")] * 2

    assert "52 records valid." in ok(unledgered, "validate").stdout
    ok(unledgered, "plan", "--detailed-exitcode")
    ok(unledgered, "drift")
    env = load_settings(unledgered).environment("sandbox")
    kind = kind_of("organization")
    stored = sandbox(unledgered).organizations()
    for oid, name in ((first, "lakeside-health-2.yaml"), (second, "lakeside-health-3.yaml")):
        path = unledgered / "orgs" / name
        loaded, problems = load_file(path, f"orgs/{name}", kind, env)
        assert problems == []
        assert loaded is not None
        assert loaded.desired is not None
        payload = loaded.desired.payload
        assert payload == kind.queryable(stored[oid])
    assert "endpoints" not in (unledgered / "orgs" / "lakeside-health-2.yaml").read_text()
    assert_logged_bodies_valid(logged(unledgered))


def test_a_record_the_yaml_form_cannot_say_is_adopted_as_held_and_planned(unledgered: Path) -> None:
    # The YAML form always sends the OID first; this directory record holds it second.
    ok(unledgered, "import", "--from-files")
    oid = f"{ORPHANS}.9"
    held = [{"ID": "9", "IDType": "FACID"}, {"ID": oid, "IDType": "OID"}]
    sandbox(unledgered).put_organization(org_record(oid, "Bayside Clinic", Identifiers=held))

    out = ok(unledgered, "import", "--oid", oid, "--write-yaml").stdout
    assert f"adopted organization:{oid} as the directory holds it: the plan will update it" in out
    assert ledger_of(unledgered)[f"organization:{oid}"]["payload"]["Identifiers"] == held
    ok(unledgered, "drift")  # the ledger says what the directory holds
    [change] = json_of(unledgered, "plan")["changes"]
    assert (change["action"], change["source"]) == ("update", "orgs/bayside-clinic.yaml")
    assert change["after"]["Identifiers"] == held[::-1]
    ok(unledgered, "apply", "--yes")
    ok(unledgered, "plan", "--detailed-exitcode")
    ok(unledgered, "drift")
    assert_logged_bodies_valid(logged(unledgered))


def test_import_write_yaml_refuses_a_file_whose_parent_has_none(unledgered: Path) -> None:
    ok(unledgered, "import", "--from-files")
    parent, child = f"{ORPHANS}.5", f"{ORPHANS}.5.1"
    box = sandbox(unledgered)
    box.put_organization(org_record(parent, "Harbor Health"))
    box.put_organization(
        org_record(child, "Harbor Clinic", PartOf={"Identifier": {"Value": parent}})
    )
    before = (sandbox_dir(unledgered) / "ledger.json").read_bytes()

    alone = run(unledgered, "import", "--oid", child, "--write-yaml")
    assert alone.exit_code == 1, alone.output
    assert f"part_of {parent}" in alone.stderr
    assert "nothing was imported" in alone.stderr
    assert not (unledgered / "orgs" / "harbor-clinic.yaml").exists()
    assert (sandbox_dir(unledgered) / "ledger.json").read_bytes() == before
    ok(unledgered, "validate")

    ok(unledgered, "import", "--oid", child, "--oid", parent, "--write-yaml")
    assert "52 records valid." in ok(unledgered, "validate").stdout
    ok(unledgered, "plan", "--detailed-exitcode")
    assert_logged_bodies_valid(logged(unledgered))


def test_import_of_an_oid_the_directory_lacks_fails_clearly(unledgered: Path) -> None:
    unknown = f"{ORPHANS}.404"
    result = run(unledgered, "import", "--oid", unknown)
    assert result.exit_code == 1
    assert f"not in the directory, so nothing to import: {unknown}" in result.stderr
    assert "Traceback" not in result.output
    assert not (sandbox_dir(unledgered) / "ledger.json").exists()
    assert events(logged(unledgered)) == [("Organization", "Query")]


@pytest.mark.parametrize(
    "args", [(), ("--write-yaml",), ("--from-files", "--oid", PARENT)], ids=str
)
def test_import_needs_either_oid_or_from_files(unledgered: Path, args: tuple[str, ...]) -> None:
    result = run(unledgered, "import", *args)
    assert result.exit_code == 1
    assert "import needs either --oid OID (one or more) or --from-files" in result.stderr
    assert logged(unledgered) == []
    assert not (sandbox_dir(unledgered) / "ledger.json").exists()


def test_import_while_an_apply_holds_the_lock_fails_naming_the_holder(unledgered: Path) -> None:
    lock = Workspace(repo=unledgered, env_name="sandbox").ledger_store.lock_path
    with ledger_lock.lock(lock):  # exactly what a running apply holds
        result = run(unledgered, "import", "--from-files")
    assert result.exit_code == 1
    holder = f"another apply on host {socket.gethostname()}, pid {os.getpid()}"
    assert holder in result.stderr
    assert str(lock) in result.stderr
    assert logged(unledgered) == []
    assert not (sandbox_dir(unledgered) / "ledger.json").exists()
    ok(unledgered, "import", "--from-files")  # once released, import runs


def test_import_from_files_against_sandbox_serve(unledgered: Path, tmp_path: Path) -> None:
    dev = ("--env", "development")
    records = sandbox(unledgered).organizations()
    with served(tmp_path / "served") as server, httpx.Client(base_url=server.url) as admin:
        for record in records.values():
            assert admin.put("/_sandbox/organizations", json=record).status_code == 200
        done = cli_process(unledgered, server.env, "import", "--from-files", *dev)
        assert done.returncode == 0, done.stderr
        assert "Imported 50 records into the development ledger." in done.stdout
        plan = cli_process(unledgered, server.env, "plan", "--detailed-exitcode", *dev)
        assert plan.returncode == 0, plan.stdout + plan.stderr
        log = admin.get("/_sandbox/requests").json()
    sent = [(e["data_model"], e["event_type"]) for e in log if e["path"] == "/endpoint"]
    assert sent == [("Organization", "Query")] * 50
    assert all(e["status"] == 200 for e in log)
    assert_logged_bodies_valid(log)

"""drift, plan --refresh and apply --refresh (SPEC 2): changes made to the directory behind the
tool's back are seen, planned and repaired, through the in-process sandbox and `sandbox serve`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from factories import GATEWAY, example_repository
from sandbox_local import (
    CLINIC,
    DUBUQUE,
    ROCHESTER,
    actions,
    assert_logged_bodies_valid,
    behind_the_back,
    cli_process,
    events,
    fields_of,
    json_of,
    logged,
    ok,
    sandbox,
    sandbox_dir,
    served,
)

# -- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def applied(tmp_path: Path) -> Path:
    """The example repository, applied to its sandbox: files, ledger and directory agree."""
    repo = example_repository(tmp_path / "repo")
    ok(repo, "apply", "--yes")
    ok(repo, "drift")
    return repo


# -- drift, plan --refresh, apply --refresh ----------------------------------------------------


def test_drift_on_an_empty_ledger_exits_0(tmp_path: Path) -> None:
    repo = example_repository(tmp_path / "repo")
    result = ok(repo, "drift")
    assert "No drift: all 0 ledgered records match the directory." in result.stdout
    doc = json_of(repo, "drift")
    assert (doc["checked"], doc["drift"]) == (0, [])
    assert "organization:" not in str(logged(repo))


def test_a_changed_city_shows_in_every_format_and_apply_refresh_repairs_it(applied: Path) -> None:
    behind_the_back(applied, CLINIC, lambda r: r["Address"].update(City="Fitchburg"))

    text = ok(applied, "drift", code=2).stdout
    assert f"organization {CLINIC}: different in the directory" in text
    assert 'Address.City: "Madison" -> "Fitchburg"' in text
    assert "orgs/madison-east-clinic.yaml" in text
    assert "Not compared: an organization's Endpoints and DestinationID" in text
    assert "Drift: 1 of 5 records differ from the directory." in text

    doc = json_of(applied, "drift", code=2)
    assert doc["checked"] == 5
    assert doc["not_compared"] == {"organization": ["Endpoints", "DestinationID"]}
    [found] = doc["drift"]
    assert (found["identity"], found["finding"]) == (CLINIC, "different")
    assert found["fields"] == [
        {"path": "Address.City", "ledger": "Madison", "directory": "Fitchburg"}
    ]

    markdown = ok(applied, "drift", "--format", "markdown", code=2).stdout
    assert f"| `{CLINIC}` | different in the directory |" in markdown
    assert "`Address.City`" in markdown
    assert "Endpoints and DestinationID" in markdown

    # Without --refresh the plan trusts the ledger and sees nothing to do.
    assert json_of(applied, "plan")["changes"] == []
    plan = json_of(applied, "plan", "--refresh")
    assert plan["refreshed"] is True
    assert actions(plan) == [("update", CLINIC)]
    assert fields_of(plan["changes"][0]) == [("Address.City", "Fitchburg", "Madison")]
    text = ok(applied, "plan", "--refresh").stdout
    assert "Planned against the directory's records (--refresh)." in text
    ok(applied, "plan", "--refresh", "--detailed-exitcode", code=2)

    mark = len(logged(applied))
    ok(applied, "apply", "--refresh", "--yes")
    assert sandbox(applied).organizations()[CLINIC]["Address"]["City"] == "Madison"
    sent = events(logged(applied)[mark:])
    assert sent.count(("Organization", "Update")) == 1
    assert ("Organization", "New") not in sent
    assert "No drift: all 5 ledgered records" in ok(applied, "drift").stdout
    ok(applied, "plan", "--refresh", "--detailed-exitcode")
    assert_logged_bodies_valid(logged(applied))


def test_a_flipped_status_behind_the_back_is_planned_back(applied: Path) -> None:
    behind_the_back(applied, CLINIC, lambda r: r.update(Active=False))
    behind_the_back(applied, DUBUQUE, lambda r: r.update(Active=True))  # inactive in its file

    text = ok(applied, "drift", code=2).stdout
    assert f"organization {CLINIC}: deactivated in the directory" in text
    assert "Active: true -> false" in text
    assert f"organization {DUBUQUE}: active in the directory but inactive in the ledger" in text
    found = {d["identity"]: d for d in json_of(applied, "drift", code=2)["drift"]}
    assert (found[CLINIC]["finding"], found[DUBUQUE]["finding"]) == ("deactivated", "reactivated")
    assert found[CLINIC]["fields"] == [{"path": "Active", "ledger": True, "directory": False}]
    markdown = ok(applied, "drift", "--format", "markdown", code=2).stdout
    assert f"| `{CLINIC}` | deactivated in the directory |" in markdown

    plan = json_of(applied, "plan", "--refresh")
    assert sorted(actions(plan)) == [("deactivate", DUBUQUE), ("reactivate", CLINIC)]
    ok(applied, "apply", "--refresh", "--yes")
    held = sandbox(applied).organizations()
    assert (held[CLINIC]["Active"], held[DUBUQUE]["Active"]) == (True, False)
    ok(applied, "drift")
    assert_logged_bodies_valid(logged(applied))


def test_a_record_missing_from_the_directory_is_planned_as_its_only_create(applied: Path) -> None:
    # A fresh sandbox data directory that holds every record but one (the ledger stays).
    held = sandbox(applied).organizations()
    (sandbox_dir(applied) / "directory.jsonl").unlink()
    fresh = sandbox(applied)
    assert fresh.organizations() == {}
    for oid, record in held.items():
        if oid != ROCHESTER:
            fresh.put_organization(record)

    text = ok(applied, "drift", code=2).stdout
    assert f"organization {ROCHESTER}: missing from the directory" in text
    assert "Drift: 1 of 5 records differ" in text
    [found] = json_of(applied, "drift", code=2)["drift"]
    assert (found["identity"], found["finding"], found["fields"]) == (ROCHESTER, "missing", [])
    markdown = ok(applied, "drift", "--format", "markdown", code=2).stdout
    assert f"| `{ROCHESTER}` | missing from the directory |" in markdown

    assert actions(json_of(applied, "plan", "--refresh")) == [("create", ROCHESTER)]
    ok(applied, "apply", "--refresh", "--yes")
    directory = sandbox(applied)
    assert directory.organizations()[ROCHESTER] == held[ROCHESTER]
    assert directory.creations() == {ROCHESTER: 1}
    ok(applied, "drift")
    ok(applied, "plan", "--detailed-exitcode")
    assert_logged_bodies_valid(logged(applied))


def test_what_a_query_cannot_return_or_adds_is_not_drift(applied: Path) -> None:
    def edit(record: dict[str, Any]) -> None:
        # Invisible to a query (Endpoints, DestinationID) or added by the directory itself.
        record["Endpoints"] = [{"Name": "XCPD", "Address": "https://elsewhere.example/xcpd"}]
        record["DestinationID"] = "0f3c5a8e-2b7d-4c19-9e6a-1d2f3b4c5d6e"
        record["PartOf"]["Identifier"]["Type"] = "OID"
        record["ManagingOrg"] = "Someone Else"

    behind_the_back(applied, CLINIC, edit)
    text = ok(applied, "drift").stdout
    assert "No drift: all 5 ledgered records match the directory." in text
    assert "Not compared: an organization's Endpoints and DestinationID" in text
    assert json_of(applied, "plan", "--refresh")["changes"] == []


def test_a_field_set_there_that_the_files_never_send_is_drift(applied: Path) -> None:
    """A full-record Update would silently drop it: drift and the refreshed plan show it."""
    dubuque = "2.16.840.1.113883.3.6147.458.24601.1.4"
    behind_the_back(applied, dubuque, lambda record: record.update(Comment="set in the dashboard"))
    report = json_of(applied, "drift", code=2)
    by_identity = {d["identity"]: d for d in report["drift"]}
    assert [f["path"] for f in by_identity[dubuque]["fields"]] == ["Comment"]
    plan = json_of(applied, "plan", "--refresh")
    change = next(c for c in plan["changes"] if c["identity"] == dubuque)
    assert change["action"] == "update"
    assert fields_of(change) == [("Comment", "set in the dashboard", None)]
    assert change["fields"][0]["removed"] is True


def test_drift_over_many_records_finds_a_change_to_the_last_one(tmp_path: Path) -> None:
    # More records than one page of a listing (the sandbox pages with Index/Limit, 20 by
    # default): the change is on the record the directory lists last.
    repo = tmp_path / "repo"
    (repo / "orgs").mkdir(parents=True)
    oids = [f"2.16.840.1.113883.3.6147.458.31337.{n}" for n in range(101, 149)]
    for n, oid in enumerate(oids, start=1):
        (repo / "orgs" / f"site-{n}.yaml").write_text(
            f"oid: {oid}\nname: Lakeside Site {n}\ntype: Connection\npart_of: {GATEWAY}\n"
            f"address: {{city: Madison, state: WI, zip: '53703', country: USA}}\n",
            encoding="utf-8",
        )
    ok(repo, "apply", "--yes")
    directory = sandbox(repo)
    last = sorted(directory.organizations())[-1]
    assert last == oids[-1]
    behind_the_back(repo, last, lambda r: r["Address"].update(City="Monona"))

    mark = len(logged(repo))
    doc = json_of(repo, "drift", code=2)
    assert doc["checked"] == len(oids) == 48
    assert [(d["identity"], d["fields"][0]["path"]) for d in doc["drift"]] == [
        (last, "Address.City")
    ]
    queries = [e for e in logged(repo)[mark:] if e["path"] == "/endpoint"]
    assert {(e["data_model"], e["event_type"]) for e in queries} == {("Organization", "Query")}
    assert sorted(e["oid"] for e in queries) == oids
    # One query per ledgered record, each with its paging fields (strings, as Redox wants).
    assert all(isinstance(e["body"]["Index"], str) and e["body"]["Limit"] for e in queries)
    assert_logged_bodies_valid(logged(repo))


# -- against `reconciler sandbox serve`, over HTTP with real authentication --------------------


def test_drift_and_refresh_against_sandbox_serve_in_development(tmp_path: Path) -> None:
    repo = example_repository(tmp_path / "repo")
    with served(tmp_path / "served") as server:
        dev = ("--env", "development")
        ok(repo, "apply", "--yes", *dev, env=server.env)
        assert (repo / "ledger" / "development.json").is_file()
        with httpx.Client(base_url=server.url) as admin:
            record = admin.get("/_sandbox/organizations").json()[CLINIC]
            record["Address"]["City"] = "Fitchburg"
            assert admin.put("/_sandbox/organizations", json=record).status_code == 200

            drift = cli_process(repo, server.env, "drift", *dev, "--format", "json")
            assert drift.returncode == 2, drift.stderr
            [found] = json.loads(drift.stdout)["drift"]
            assert (found["identity"], found["fields"][0]["path"]) == (CLINIC, "Address.City")

            assert actions(json_of(repo, "plan", "--refresh", *dev, env=server.env)) == [
                ("update", CLINIC)
            ]
            ok(repo, "apply", "--refresh", "--yes", *dev, env=server.env)
            assert (
                admin.get("/_sandbox/organizations").json()[CLINIC]["Address"]["City"] == "Madison"
            )

            again = cli_process(repo, server.env, "drift", *dev)
            assert again.returncode == 0, again.stdout + again.stderr
            assert "No drift: all 5 ledgered records match the directory." in again.stdout

            log = admin.get("/_sandbox/requests").json()
    # The real authentication path was used, and every body sent validates.
    assert ("/v2/auth/token", 200) in [(e["path"], e["status"]) for e in log]
    assert all(e["status"] == 200 for e in log if e["path"] == "/endpoint")
    assert_logged_bodies_valid(log)

"""Provider records (SPEC 1.2): YAML -> Providers[] item, validation, identity, plan, schema."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from factories import GATEWAY, Repo
from redox_schemas import REFERENCE, assert_valid_bodies, schema_errors

from reconciler.cli import cli
from reconciler.kinds import KINDS
from reconciler.kinds.provider import npi_luhn_ok
from reconciler.ledger import file as ledger_file
from reconciler.ledger import model as ledgers
from reconciler.model import Action
from reconciler.redox.api import SANDBOX_PROVIDER_DESTINATION, with_source

ROOT = Path(__file__).resolve().parents[2]
PAT_GRANITE = ROOT / "providers" / "pat-granite.yaml"
AVERY = ROOT / "providers" / "avery-lindqvist.yaml"
CLINIC_OID = "2.16.840.1.113883.3.6147.458.24601.1.1"
HEALTH_OID = "2.16.840.1.113883.3.6147.458.24601.1"
ACTIONS = ("create", "update", "deactivate", "reactivate")
KIND = KINDS["provider"]

MINIMAL = """\
identifiers:
  - {id: "1245319599", id_type: NPI}
demographics:
  first_name: Dana
  last_name: Okafor
"""

HEALTH = f"""\
oid: {HEALTH_OID}
name: Northwind Health
type: Connection
part_of: {GATEWAY}
"""

CLINIC = f"""\
oid: {CLINIC_OID}
name: Northwind Madison East Clinic
type: Connection
part_of: {HEALTH_OID}
"""

MakeRepo = Callable[..., Path]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """A repository (factories.Repo) with the given files ({relative path: text, dedented});
    returns its root."""

    def make(files: dict[str, str]) -> Path:
        made = Repo(tmp_path)
        for name, text in files.items():
            made.write(name, textwrap.dedent(text))
        return made.root

    return make


def run(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, [*args, "--repo", str(repo)])


def plan_doc(repo: Path, *args: str) -> dict[str, Any]:
    result = run(repo, "plan", "--format", "json", *args)
    assert result.exit_code == 0, result.output + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def reference_example() -> dict[str, Any]:
    """The JSON example of reference/provider-deactivate.txt, without its line numbers."""
    path = REFERENCE / "provider-deactivate.txt"
    if not path.is_file():
        pytest.skip(f"../shared/reference is not beside the repo ({path}); the example needs it")
    numbered = path.read_text(encoding="utf-8").split("Example\njson\n", 1)[1]
    lines, number = [], 1
    for line in numbered.splitlines():
        if line.strip() == str(number):
            number += 1
        else:
            lines.append(line)
    example: dict[str, Any] = json.loads("\n".join(lines))
    return example


def bodies_of(payload: dict[str, Any], *, source_id: str | None = None) -> list[dict[str, Any]]:
    """The body of each action, as the client sends it (with Meta.Source for a source ID)."""
    return [
        with_source(KIND.request(Action(action), {}, payload, destination="dest-1"), source_id)
        for action in ACTIONS
    ]


def payload_of(repo: Path, identity: str) -> dict[str, Any]:
    """The planned payload (a create) of one provider."""
    changes = {c["key"]: c for c in plan_doc(repo)["changes"]}
    after: dict[str, Any] = changes[f"provider:{identity}"]["after"]
    return after


def write_ledger(repo: Path, entries: dict[str, tuple[dict[str, Any], bool]]) -> None:
    """A sandbox ledger holding `identity -> (payload, active)` as last applied."""
    ledger = ledgers.Ledger.new("sandbox")
    for identity, (payload, active) in entries.items():
        entry = ledgers.make_entry(
            kind="provider",
            identity=identity,
            envelope={},
            payload=payload,
            active=active,
            source="providers/p.yaml",
            commit=None,
        )
        ledger = ledger.with_entry(f"provider:{identity}", entry)
    ledger_file.save(repo / ".reconciler" / "sandbox" / "ledger.json", ledger)


# --- the wire form --------------------------------------------------------------------------


def test_example_yaml_gives_the_reference_example(make_repo: MakeRepo) -> None:
    example = reference_example()
    repo = make_repo({"providers/pat-granite.yaml": PAT_GRANITE.read_text(encoding="utf-8")})
    payload = payload_of(repo, "4356789876")
    assert payload["IsActive"] is True
    assert {k: v for k, v in payload.items() if k != "IsActive"} == example["Providers"][0]
    # The Deactivate request carries the example's Providers[] exactly, and its Meta names.
    body = KIND.request(Action.DEACTIVATE, {}, payload, destination="d")
    assert body["Providers"] == example["Providers"]
    assert (body["Meta"]["DataModel"], body["Meta"]["EventType"]) == ("Provider", "Deactivate")


def test_written_nulls_are_sent_and_omitted_keys_are_not(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "providers/p.yaml": MINIMAL
            + "  middle_name: null\nqualifications:\n  - {code: MD, end_date: null}\n"
        }
    )
    payload = payload_of(repo, "1245319599")
    assert payload == {
        "Identifiers": [{"ID": "1245319599", "IDType": "NPI"}],
        "IsActive": True,
        "Demographics": {"FirstName": "Dana", "LastName": "Okafor", "MiddleName": None},
        "Qualifications": [{"Code": "MD", "EndDate": None}],
    }


def test_requests_use_the_provider_events(make_repo: MakeRepo) -> None:
    repo = make_repo({"providers/p.yaml": MINIMAL})
    payload = payload_of(repo, "1245319599")
    bodies = bodies_of(payload, source_id="src-9")
    events = [b["Meta"]["EventType"] for b in bodies]
    assert events == ["New", "Update", "Deactivate", "Activate"]
    for body in bodies:
        assert body["Meta"]["DataModel"] == "Provider"
        assert body["Meta"]["Destinations"] == [{"ID": "dest-1"}]
        assert body["Meta"]["Source"] == {"ID": "src-9"}
        assert set(body) == {"Meta", "Providers"}
    new, update, deactivate, activate = (b["Providers"][0] for b in bodies)
    assert new["IsActive"] is True
    assert update["IsActive"] is True
    assert "IsActive" not in deactivate
    assert "IsActive" not in activate
    assert deactivate == activate == {k: v for k, v in payload.items() if k != "IsActive"}


@pytest.mark.parametrize("source", [PAT_GRANITE, AVERY], ids=["pat-granite", "avery"])
def test_every_request_body_validates_against_the_redox_schemas(
    make_repo: MakeRepo, source: Path
) -> None:
    repo = make_repo(
        {
            "orgs/health.yaml": HEALTH,
            "orgs/clinic.yaml": CLINIC,
            f"providers/{source.name}": source.read_text(encoding="utf-8"),
        }
    )
    plan = plan_doc(repo)
    payloads = [c["after"] for c in plan["changes"] if c["kind"] == "provider"]
    assert len(payloads) == 1
    bodies = bodies_of(payloads[0]) + bodies_of(payloads[0], source_id="src")
    assert_valid_bodies(bodies)
    # The one difference excused here is SPEC 1.2's boolean Roles[].Organization.IsActive.
    roles = [r for b in bodies for r in b["Providers"][0].get("Roles", [])]
    assert {type(r["Organization"].get("IsActive")) for r in roles} <= {bool, type(None)}


def test_the_schema_check_catches_a_bad_body() -> None:
    body = KIND.request(Action.CREATE, {}, {"Identifiers": [{"ID": 5}]}, destination="d")
    assert schema_errors(body)
    # Only the two documented differences are excused: any other unknown key fails.
    with_extra = KIND.request(
        Action.CREATE, {}, {"Identifiers": [{"ID": "5"}], "IsActive": True}, destination="d"
    )
    assert schema_errors(with_extra) == []
    with_extra["Providers"][0]["Nickname"] = "Pat"
    assert schema_errors(with_extra)


# --- validation -----------------------------------------------------------------------------

BAD = """\
identifiers:
  - {id: "1245319599", id_type: NPI}
demographics:
  phone_number:
    office: 608-555-1234
  dob: "1963-02-30"
qualifications:
  - start_date: 2000/02/01
    end_date: "2030-01-01T25:00:00Z"
roles:
  - locations:
      - status: retired
    availability:
      - days: [Monday, Funday]
        available_start_time: 17:00
        available_end_time: "9am"
"""


def test_every_problem_is_reported_with_its_line(make_repo: MakeRepo) -> None:
    repo = make_repo({"providers/bad.yaml": BAD})
    result = run(repo, "validate")
    assert result.exit_code == 1
    out = result.stdout
    expected = [
        (5, "demographics.phone_number.office: '608-555-1234' is not an E.164 phone number"),
        (6, "demographics.dob: '1963-02-30' is not an ISO 8601 date"),
        (8, "qualifications[0].start_date: '2000/02/01' is not an ISO 8601 date"),
        (9, "qualifications[0].end_date: '2030-01-01T25:00:00Z' is not an ISO 8601 date"),
        (12, "roles[0].locations[0].status: 'retired' is not a location status"),
        (14, "roles[0].availability[0].days[1]: 'Funday' is not allowed"),
        (15, "available_start_time: got the number 1020: write times in quotes"),
        (16, "roles[0].availability[0].available_end_time: '9am' is not a time of day"),
    ]
    for line, message in expected:
        assert f"providers/bad.yaml:{line}: error: " in out
        assert any(
            row.startswith(f"providers/bad.yaml:{line}: error: ") and message in row
            for row in out.splitlines()
        ), (line, message, out)
    assert "8 problems in 1 file" in out


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("demographics:\n  first_name: X\n", 1, "missing required key 'identifiers'"),
        ("identifiers: []\n", 1, "identifiers: must not be empty: at least one"),
        ("identifiers:\n  - {id_type: NPI}\n", 2, "missing required key 'id'"),
        ('identifiers:\n  - {id: "123456789", id_type: NPI}\n', 2, "is exactly 10 digits"),
        ("identifiers:\n  - {id: 1245319599, id_type: NPI}\n", 2, "put it in quotes"),
        ('identifiers:\n  - {id: "1234567893\\n", id_type: NPI}\n', 2, "exactly 10 digits"),
        (MINIMAL + '  dob: "1963-01-06\\n"\n', 6, "is not an ISO 8601 date"),
        (MINIMAL + "  nick_name: D\n", 6, "unknown key 'nick_name'"),
        (MINIMAL + "is_active: true\n", 6, "did you mean 'active'?"),
        (MINIMAL + "roles:\n  - availability:\n      - days: monday\n", 8, "expected a list"),
        (MINIMAL + "roles:\n  - locations:\n      - status: Closed\n", 8, "location status"),
        (MINIMAL + "  email_addresses: [dana]\n", 6, "not an email address"),
        (MINIMAL + "  addresses:\n    - {state: Wisc, country: USA}\n", 7, "USPS state code"),
    ],
)
def test_a_bad_file_names_the_line(make_repo: MakeRepo, text: str, line: int, message: str) -> None:
    repo = make_repo({"providers/p.yaml": text})
    result = run(repo, "validate")
    assert result.exit_code == 1
    rows = [r for r in result.stdout.splitlines() if r.startswith("providers/p.yaml:")]
    assert any(r.startswith(f"providers/p.yaml:{line}: error: ") and message in r for r in rows), (
        rows
    )


@pytest.mark.parametrize(
    "value",
    ["09:00", "17:30:15", "09:00Z", "09:00:00.000+01:00", "23:59"],
)
def test_good_times_pass(make_repo: MakeRepo, value: str) -> None:
    text = MINIMAL + f'roles:\n  - availability:\n      - available_start_time: "{value}"\n'
    assert run(make_repo({"providers/p.yaml": text}), "validate").exit_code == 0


@pytest.mark.parametrize("value", ["1963-01-06", "2000-02-01T08:30:00Z", "2000-02-01T08:30"])
def test_good_dates_pass(make_repo: MakeRepo, value: str) -> None:
    text = MINIMAL + f'  dob: "{value}"\n'
    assert run(make_repo({"providers/p.yaml": text}), "validate").exit_code == 0


def test_location_status_is_case_insensitive_and_sent_as_written(make_repo: MakeRepo) -> None:
    text = (
        MINIMAL + "roles:\n  - locations:\n      - {status: SUSPENDED}\n      - {status: active}\n"
    )
    payload = payload_of(make_repo({"providers/p.yaml": text}), "1245319599")
    statuses = [loc["Status"] for loc in payload["Roles"][0]["Locations"]]
    assert statuses == ["SUSPENDED", "active"]


# --- NPI check digit: a warning -------------------------------------------------------------


def test_npi_luhn() -> None:
    assert npi_luhn_ok("1234567893")
    assert npi_luhn_ok("1245319599")
    assert not npi_luhn_ok("4356789876")
    assert not npi_luhn_ok("1234567890")


def test_a_failing_npi_check_digit_is_a_warning(make_repo: MakeRepo) -> None:
    repo = make_repo({"providers/pat-granite.yaml": PAT_GRANITE.read_text(encoding="utf-8")})
    line = next(
        n
        for n, row in enumerate(PAT_GRANITE.read_text(encoding="utf-8").splitlines(), 1)
        if row.startswith("identifiers:")
    )
    text = run(repo, "validate")
    assert text.exit_code == 0
    assert f"providers/pat-granite.yaml:{line}: warning: NPI 4356789876 fails the Luhn" in (
        text.stdout
    )
    assert "1 record valid." in text.stdout

    github = run(repo, "validate", "--format", "github")
    assert github.exit_code == 0
    assert github.stdout.startswith(
        f"::warning file=providers/pat-granite.yaml,line={line},title=reconciler warning::NPI "
        "4356789876 fails the Luhn"
    )
    assert "::error" not in github.stdout

    doc = json.loads(run(repo, "validate", "--format", "json").stdout)
    assert doc["valid"] is True
    assert [(p["severity"], p["subject"]) for p in doc["problems"]] == [("warning", "4356789876")]

    # The plan goes ahead and shows the warning.
    plan = run(repo, "plan")
    assert plan.exit_code == 0
    assert "Warning: providers/pat-granite.yaml" in plan.stdout


def test_a_valid_npi_gives_no_warning(make_repo: MakeRepo) -> None:
    repo = make_repo({"providers/p.yaml": MINIMAL})
    result = run(repo, "validate", "--format", "github")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "warning" not in run(repo, "validate").stdout


def test_a_warning_does_not_hide_errors(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "providers/a.yaml": 'identifiers:\n  - {id: "4356789876", id_type: NPI}\n',
            "providers/b.yaml": 'identifiers:\n  - {id: "x"}\ndemographics: {dob: "1963"}\n',
        }
    )
    result = run(repo, "validate", "--format", "github")
    assert result.exit_code == 1
    assert "::warning file=providers/a.yaml,line=1," in result.stdout
    assert "::error file=providers/b.yaml,line=3," in result.stdout


# --- identity -------------------------------------------------------------------------------


def test_identity_is_the_npi_wherever_it_is_listed(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "providers/p.yaml": """\
            identifiers:
              - {id: EMP-7, id_type: Employee}
              - {id: "1245319599", id_type: NPI}
            """
        }
    )
    (change,) = plan_doc(repo)["changes"]
    assert change["key"] == "provider:1245319599"
    assert change["after"]["Identifiers"][0] == {"ID": "EMP-7", "IDType": "Employee"}


def test_identity_without_an_npi_is_the_first_identifier(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "providers/p.yaml": """\
            identifiers:
              - {id: EMP-7, id_type: Employee}
              - {id: "99", id_type: Badge}
            demographics: {first_name: Lee, last_name: Chen}
            """
        }
    )
    (change,) = plan_doc(repo)["changes"]
    assert (change["key"], change["name"]) == ("provider:EMP-7", "Lee Chen")


def test_a_shared_identity_is_an_error_on_the_second_file(make_repo: MakeRepo) -> None:
    other = 'demographics: {first_name: B}\nidentifiers:\n  - {id: "1245319599", id_type: NPI}\n'
    repo = make_repo({"providers/a.yaml": MINIMAL, "providers/b.yaml": other})
    result = run(repo, "validate")
    assert result.exit_code == 1
    assert (
        "providers/b.yaml:2: error: provider identity 1245319599 is already used by "
        "providers/a.yaml (line 1)" in result.stdout
    )
    assert "providers/a.yaml:" not in result.stdout


def test_renaming_a_file_changes_nothing(make_repo: MakeRepo) -> None:
    repo = make_repo({"providers/p.yaml": MINIMAL})
    payload = payload_of(repo, "1245319599")
    write_ledger(repo, {"1245319599": (payload, True)})
    (repo / "providers" / "p.yaml").rename(repo / "providers" / "dana-okafor.yaml")
    assert plan_doc(repo)["changes"] == []


# --- role organizations named by OID --------------------------------------------------------


def _with_role_org(oid: str) -> str:
    return MINIMAL + (
        f"roles:\n  - organization:\n      identifiers:\n        - {{id: {oid}, id_type: OID}}\n"
    )


def test_a_provider_waits_for_its_role_organization(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            "orgs/health.yaml": HEALTH,
            "orgs/clinic.yaml": CLINIC,
            "providers/p.yaml": _with_role_org(CLINIC_OID),
        }
    )
    changes = plan_doc(repo)["changes"]
    keys = [c["key"] for c in changes]
    provider = keys.index("provider:1245319599")
    assert provider > keys.index(f"organization:{CLINIC_OID}")
    assert changes[provider]["depends_on"] == [f"organization:{CLINIC_OID}"]
    text = run(repo, "plan").stdout
    assert "create provider 1245319599  Dana Okafor  (providers/p.yaml)" in text


def test_the_example_provider_of_the_repo_waits_for_its_clinic(make_repo: MakeRepo) -> None:
    files = {
        f"{folder}/{path.name}": path.read_text(encoding="utf-8")
        for folder in ("orgs", "providers")
        for path in sorted((ROOT / folder).glob("*.yaml"))
    }
    changes = plan_doc(make_repo(files))["changes"]
    avery = next(c for c in changes if c["key"] == "provider:1647839210")
    assert avery["depends_on"] == [f"organization:{CLINIC_OID}"]


@pytest.mark.parametrize(
    "oid",
    [
        "2.16.840.1.113883.3.6147.458.99999.1",  # outside what orgs/ manages
        HEALTH_OID,  # managed in orgs/
    ],
)
def test_a_role_organization_managed_elsewhere_or_here_is_fine(
    make_repo: MakeRepo, oid: str
) -> None:
    repo = make_repo(
        {
            "orgs/health.yaml": HEALTH,
            "orgs/clinic.yaml": CLINIC,
            "providers/p.yaml": _with_role_org(oid),
        }
    )
    result = run(repo, "validate")
    assert result.exit_code == 0, result.stdout


def test_a_role_organization_oid_missing_under_a_managed_one_is_an_error(
    make_repo: MakeRepo,
) -> None:
    missing = HEALTH_OID + ".9"
    files = {
        "orgs/health.yaml": HEALTH,
        "orgs/clinic.yaml": CLINIC,
        "providers/p.yaml": _with_role_org(missing),
    }
    repo = make_repo(files)
    result = run(repo, "validate")
    assert result.exit_code == 1
    assert (
        f"providers/p.yaml:6: error: role organization OID {missing} is under {HEALTH_OID}, "
        "which orgs/ manages, but no file in orgs/ has it" in result.stdout
    )
    # Listing it as managed elsewhere is the way out.
    make_repo({"reconciler.yaml": f"external_parents: [{missing}]\n"})
    assert run(repo, "validate").exit_code == 0


def test_a_role_organization_oid_must_be_an_oid(make_repo: MakeRepo) -> None:
    repo = make_repo({"providers/p.yaml": _with_role_org('"1.2.03"')})
    result = run(repo, "validate")
    assert result.exit_code == 1
    assert (
        "providers/p.yaml:9: error: roles[0].organization.identifiers[0].id: '1.2.03' is not an OID"
        in (result.stdout)
    )


# --- destination ----------------------------------------------------------------------------


def test_providers_need_the_environments_provider_destination(make_repo: MakeRepo) -> None:
    repo = make_repo({"providers/p.yaml": MINIMAL})
    result = run(repo, "plan", "--env", "development")
    assert result.exit_code == 1
    assert "environments.development.provider_destination in reconciler.yaml" in result.stderr
    make_repo({"reconciler.yaml": "environments:\n  development:\n    provider_destination: d-1\n"})
    assert run(repo, "plan", "--env", "development").exit_code == 0


def test_no_provider_files_need_no_provider_destination(make_repo: MakeRepo) -> None:
    repo = make_repo({"orgs/health.yaml": HEALTH})
    assert run(repo, "validate", "--env", "development").exit_code == 0


def test_the_sandbox_has_a_provider_destination(make_repo: MakeRepo) -> None:
    from reconciler.records.settings import load_settings

    env = load_settings(make_repo({})).environment("sandbox")
    assert env.destination(KIND.name) == SANDBOX_PROVIDER_DESTINATION


# --- plan -----------------------------------------------------------------------------------


def test_plan_actions_and_their_events(make_repo: MakeRepo) -> None:
    files = {
        "providers/new.yaml": MINIMAL,
        "providers/changed.yaml": 'identifiers:\n  - {id: "1234567893", id_type: NPI}\n'
        "demographics: {last_name: Newname}\n",
        "providers/leaving.yaml": "identifiers:\n  - {id: A-1}\nactive: false\n",
        "providers/back.yaml": "identifiers:\n  - {id: B-2}\n",
        "providers/same.yaml": "identifiers:\n  - {id: C-3}\ndemographics: {sex: Male}\n",
    }
    repo = make_repo(files)
    created = {c["identity"]: c["after"] for c in plan_doc(repo)["changes"]}
    write_ledger(
        repo,
        {
            "1234567893": ({**created["1234567893"], "Demographics": {"LastName": "Old"}}, True),
            "A-1": ({**created["A-1"], "IsActive": True}, True),
            "B-2": ({**created["B-2"], "IsActive": False}, False),
            "C-3": (created["C-3"], True),
        },
    )
    changes = plan_doc(repo)["changes"]
    actions = {c["identity"]: c["action"] for c in changes}
    assert actions == {
        "1245319599": "create",
        "1234567893": "update",
        "A-1": "deactivate",
        "B-2": "reactivate",
    }
    events = {
        c["identity"]: KIND.request(Action(c["action"]), c["envelope"], c["after"], destination="d")
        for c in changes
    }
    assert {i: b["Meta"]["EventType"] for i, b in events.items()} == {
        "1245319599": "New",
        "1234567893": "Update",
        "A-1": "Deactivate",
        "B-2": "Activate",
    }
    update = next(c for c in changes if c["action"] == "update")
    assert [f["path"] for f in update["fields"]] == ["Demographics.LastName"]
    summary = run(repo, "plan").stdout.splitlines()[-1]
    assert summary == "Plan: 1 to create, 1 to update, 1 to deactivate, 1 to reactivate."


def test_style_and_key_order_cause_no_update(make_repo: MakeRepo) -> None:
    repo = make_repo({"providers/p.yaml": MINIMAL})
    write_ledger(repo, {"1245319599": (payload_of(repo, "1245319599"), True)})
    make_repo(
        {
            "providers/p.yaml": """\
            # the same record, written differently
            demographics:
              last_name: 'Okafor'
              first_name: "Dana"
            identifiers: [{id_type: NPI, id: "1245319599"}]
            active: true
            """
        }
    )
    assert plan_doc(repo)["changes"] == []


def test_kind_helpers() -> None:
    payload = {
        "Identifiers": [{"ID": "1", "IDType": None}],
        "IsActive": True,
        "Roles": [
            {"Organization": {"Identifiers": [{"ID": CLINIC_OID, "IDType": "OID"}]}},
            {"Organization": {"Identifiers": [{"ID": "135", "IDType": None}]}},
        ],
    }
    assert KIND.parent_keys(payload) == (f"organization:{CLINIC_OID}",)
    assert KIND.is_active(payload) is True
    off = KIND.with_active(payload, False)
    assert KIND.is_active(off) is False
    assert payload["IsActive"] is True
    assert KIND.identity(
        {"identifiers": [{"id": "1"}, {"id": "1245319599", "id_type": "NPI"}]}
    ) == ("1245319599")
    assert KIND.identity({"identifiers": "nope"}) is None


# --- schema ---------------------------------------------------------------------------------


def _objects(node: Any, path: str = "$") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") == "object" or "properties" in node:
            found.append((path, node.get("additionalProperties")))
        for key, value in node.items():
            if key not in {"if", "then", "else"}:  # conditions on the object around them
                found.extend(_objects(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_objects(value, f"{path}[{index}]"))
    return found


def test_schema_kind_provider() -> None:
    import jsonschema
    import yaml

    result = CliRunner().invoke(cli, ["schema", "--kind", "provider"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    objects = _objects(schema)
    assert len(objects) == 15  # the record and its 14 parts
    assert [path for path, extra in objects if extra is not False] == []
    assert schema["required"] == ["identifiers"]
    validator = jsonschema.Draft202012Validator(schema)
    for source in (PAT_GRANITE, AVERY):
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
        assert list(validator.iter_errors(data)) == []
    typo = yaml.safe_load(PAT_GRANITE.read_text(encoding="utf-8"))
    typo["roles"][0]["availability"][0]["dayz"] = ["Monday"]
    assert list(validator.iter_errors(typo))
    assert list(validator.iter_errors({"identifiers": []}))

"""The `reconciler` command: formats, options, environment selection and exit codes, in-process
and as a real process (`python -m reconciler` and the console script)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from factories import (
    BASE_OID,
    EXAMPLE_ORGS,
    OMIT,
    PARENT,
    PROJECT,
    Repo,
    dump,
    hierarchies,
    organization,
    organization_text,
)
from hypothesis import HealthCheck, given, settings
from mistakes import BASES, ORGANIZATION, to_yaml

from reconciler.cli import cli

SCRIPT = Path(sys.executable).parent / "reconciler"


def process(*args: str, cwd: Path, command: list[str] | None = None, **env: str) -> Any:
    """Run reconciler as a separate process, REDOX_ENV unset unless given."""
    environ = {k: v for k, v in os.environ.items() if k != "REDOX_ENV"} | env
    argv = [*(command or [sys.executable, "-m", "reconciler"]), *args]
    result = subprocess.run(argv, cwd=cwd, env=environ, capture_output=True, text=True)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def broken(repo: Any) -> Repo:
    return repo({"good": organization(1), "bad": organization(2, name=OMIT, colour="blue")})


# --- validate ---------------------------------------------------------------------------------


def test_validate_text(repo: Any, run_cli: Any) -> None:
    ok = run_cli("validate", repo=repo(example=True))
    assert (ok.exit_code, ok.stdout) == (0, "5 records valid.\n")
    bad = run_cli("validate", repo=broken(repo))
    assert bad.exit_code == 1
    assert bad.stdout.splitlines() == [
        "orgs/bad.yaml:1: error: missing required key 'name'",
        "orgs/bad.yaml:18: error: unknown key 'colour': remove it or check its spelling",
        "2 problems in 1 file: nothing was planned or applied.",
    ]


def test_validate_github(repo: Any, run_cli: Any) -> None:
    bad = run_cli("validate", "--format", "github", repo=broken(repo))
    assert bad.exit_code == 1
    assert bad.stdout.splitlines()[0] == (
        "::error file=orgs/bad.yaml,line=1,title=reconciler validation error::"
        "missing required key 'name'"
    )
    ok = run_cli("validate", "--format", "github", repo=repo(example=True))
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, "", "5 records valid.\n")


def test_validate_json(repo: Any, run_cli: Any) -> None:
    bad = run_cli("validate", "--format", "json", repo=broken(repo))
    assert bad.exit_code == 1
    doc = json.loads(bad.stdout)
    assert doc["valid"] is False
    assert [(p["file"], p["line"]) for p in doc["problems"]] == [
        ("orgs/bad.yaml", 1),
        ("orgs/bad.yaml", 18),
    ]
    ok = run_cli("validate", "--format", "json", repo=repo(example=True))
    assert ok.exit_code == 0
    assert json.loads(ok.stdout) == {"valid": True, "records": 5, "problems": []}


# --- plan -------------------------------------------------------------------------------------


def test_plan_formats(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    text = run_cli("plan", repo=made).stdout
    assert text.startswith("Environment sandbox (ledger serial 0)\n")
    doc = json.loads(run_cli("plan", "--format", "json", repo=made).stdout)
    assert doc["summary"] == {"create": 5, "update": 0, "deactivate": 0, "reactivate": 0}
    assert doc["environment"] == "sandbox"
    markdown = run_cli("plan", "--format", "markdown", repo=made).stdout
    assert markdown.startswith("### reconciler plan: `sandbox`\n")
    assert "**Plan: 5 to create, 0 to update, 0 to deactivate, 0 to reactivate.**" in markdown


def test_plan_out_writes_the_json_document(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    out = made.root / "plan.json"
    result = run_cli("plan", "--out", str(out), "--format", "json", repo=made)
    assert result.exit_code == 0
    assert out.read_text() == result.stdout


def test_plan_of_invalid_files_lists_the_problems(repo: Any, run_cli: Any) -> None:
    result = run_cli("plan", repo=broken(repo))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "orgs/bad.yaml:1: error: missing required key 'name'" in result.stderr


def test_exit_codes(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    assert run_cli("plan", repo=made).exit_code == 0
    assert run_cli("plan", "--detailed-exitcode", repo=made).exit_code == 2
    made.settle()
    assert run_cli("plan", "--detailed-exitcode", repo=made).exit_code == 0
    assert run_cli("plan", "--detailed-exitcode", repo=broken(repo)).exit_code == 1


# --- show -------------------------------------------------------------------------------------


def test_show(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    empty = run_cli("show", repo=made)
    assert empty.exit_code == 0
    assert empty.stdout.endswith("0 records, 0 active.\n")
    made.settle()
    text = run_cli("show", repo=made).stdout
    assert f"  active   organization {PARENT}  Northwind Health  (orgs/northwind-health.yaml" in (
        text
    )
    assert f"  inactive organization {PARENT}.4  Northwind Dubuque Urgent Care" in text
    assert text.endswith("5 records, 4 active.\n")
    shown = run_cli("show", "--format", "json", repo=made).stdout
    assert shown == made.ledger_path().read_text()


def test_show_a_corrupt_ledger(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    made.write(".reconciler/sandbox/ledger.json", "{oops")
    result = run_cli("show", repo=made)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the ledger ")
    assert "is corrupt" in result.stderr


# --- schema -----------------------------------------------------------------------------------


CONDITIONS = {"if", "then", "else"}


def closed_objects(schema: Any) -> list[str]:
    """Paths of every object schema that does not forbid other keys (the `if`/`then` of a
    conditional rule are more constraints on an object that does)."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and node.get("additionalProperties") is not False:
                found.append(path)
            for key, value in node.items():
                if key not in CONDITIONS:
                    walk(value, f"{path}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}/{index}")

    walk(schema, "#")
    return found


def test_schema_describes_the_organization_files(run_cli: Any) -> None:
    result = run_cli("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert closed_objects(schema) == []
    assert set(schema["required"]) == {"oid", "name", "part_of", "type"}
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted(EXAMPLE_ORGS.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        assert list(validator.iter_errors(data)) == [], path.name
    assert not validator.is_valid(organization(colour="blue"))
    nested = organization()
    nested["address"]["cty"] = "Madison"
    assert not validator.is_valid(nested)
    assert not validator.is_valid(organization(name=OMIT))
    assert validator.is_valid(organization(type={"system": "x", "value": "Connection"}))


# Every way a record may write its type: the text, and the {system, value} form.
TYPES = {
    "Implementer": [
        "Implementer",
        {"value": "Implementer"},
        {"system": "urn:cq", "value": "Implementer"},
    ],
    "Connection": [
        "Connection",
        {"value": "Connection"},
        {"system": "urn:cq", "value": "Connection"},
    ],
}


@cache
def organization_schema() -> jsonschema.Draft202012Validator:
    """A validator of what `reconciler schema` prints."""
    printed = CliRunner().invoke(cli, ["schema"])
    assert printed.exit_code == 0, printed.output
    return jsonschema.Draft202012Validator(json.loads(printed.stdout))


def schema_errors(text: str) -> list[str]:
    """What the schema finds wrong in one organization file's text, as an editor reads it."""
    return [error.message for error in organization_schema().iter_errors(yaml.safe_load(text))]


def test_schema_accepts_every_organization_the_suite_writes(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    for path in (PROJECT / "reconciler" / "templates" / "orgs").glob("*.yaml"):
        made.org(f"template-{path.name}", path.read_text(encoding="utf-8"))
    made.org("base", to_yaml(BASES[ORGANIZATION]))
    made.org("served", organization_text(f"{BASE_OID}.90", "Served Clinic"))
    number = 100
    for kind, forms in TYPES.items():
        for form in forms:
            number += 1
            made.org(f"{number}", organization(number, type=form))
            if kind == "Connection":
                made.org(f"{number}-none", organization(number + 500, type=form, contacts=OMIT))
                made.org(f"{number}-empty", organization(number + 700, type=form, contacts=[]))
    assert run_cli("validate", repo=made).exit_code == 0

    files = sorted((made.root / "orgs").glob("*.yaml"))
    found = {path.name: schema_errors(path.read_text(encoding="utf-8")) for path in files}

    assert len(found) == 5 + 1 + 2 + 6 + 2 * 3
    assert found == {name: [] for name in found}


@pytest.mark.parametrize("form", TYPES["Implementer"], ids=str)
@pytest.mark.parametrize(
    ("contacts", "message"),
    [(OMIT, "'contacts' is a required property"), ([], "[] should be non-empty")],
    ids=["omitted", "empty"],
)
def test_schema_rejects_an_implementer_without_contacts(
    form: Any, contacts: Any, message: str
) -> None:
    assert schema_errors(dump(organization(type=form, contacts=contacts))) == [message]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=hierarchies())
def test_schema_accepts_generated_records(records: list[dict[str, Any]]) -> None:
    assert [schema_errors(dump(record)) for record in records] == [[] for _ in records]


def test_schema_of_every_kind_is_a_valid_json_schema(run_cli: Any) -> None:
    for kind in ("organization", "provider"):
        result = run_cli("schema", "--kind", kind)
        assert result.exit_code == 0
        jsonschema.Draft202012Validator.check_schema(json.loads(result.stdout))


# --- environment and repository selection -----------------------------------------------------


def first_line(result: Any) -> str:
    return str(result.stdout.splitlines()[0])


def test_env_and_repo_before_or_after_the_subcommand(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    root = str(made.root)
    for argv in (
        ["--env", "production", "--repo", root, "plan"],
        ["plan", "--env", "production", "--repo", root],
        ["--repo", root, "plan", "--env", "production"],
        ["--env", "development", "plan", "--repo", root, "--env", "production"],
    ):
        result = run_cli(*argv)
        assert result.exit_code == 0, argv
        assert first_line(result) == "Environment production (ledger serial 0)", argv


def test_redox_env_sets_the_default_environment(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    assert first_line(run_cli("plan", repo=made)).startswith("Environment sandbox ")
    chosen = run_cli("plan", repo=made, env={"REDOX_ENV": "development"})
    assert first_line(chosen).startswith("Environment development ")
    overridden = run_cli("plan", "--env", "production", repo=made, env={"REDOX_ENV": "development"})
    assert first_line(overridden).startswith("Environment production ")


def test_the_environment_decides_the_destination_id(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    plans = {
        env: json.loads(run_cli("plan", "--format", "json", "--env", env, repo=made).stdout)
        for env in ("sandbox", "development", "production")
    }
    parent = {env: doc["changes"][0]["after"] for env, doc in plans.items()}
    assert "DestinationID" not in parent["sandbox"]
    assert parent["development"]["DestinationID"] is None
    assert parent["production"]["DestinationID"] == "0f3c5a8e-2b7d-4c19-9e6a-1d2f3b4c5d6e"


def test_unknown_environment_is_exit_1(repo: Any, run_cli: Any) -> None:
    for argv in (["--env", "nope", "validate"], ["plan", "--env", "nope"], ["show", "--env", "x"]):
        result = run_cli(*argv, repo=repo(example=True))
        assert result.exit_code == 1
        assert result.stderr.startswith("Error: unknown environment ")


def test_usage_errors_are_exit_1(repo: Any, run_cli: Any) -> None:
    assert run_cli("plan", "--bogus", repo=repo()).exit_code == 1
    assert run_cli("nosuch").exit_code == 1
    assert run_cli("plan", "--format", "yaml", repo=repo()).exit_code == 1


# --- as a real process ------------------------------------------------------------------------


def test_python_m_reconciler(repo: Any) -> None:
    made = repo(example=True)
    result = process("plan", "--detailed-exitcode", cwd=made.root)
    assert result.returncode == 2
    assert result.stdout.endswith(
        "Plan: 5 to create, 0 to update, 0 to deactivate, 0 to reactivate.\n"
    )
    assert process("validate", cwd=made.root, REDOX_ENV="production").stdout == (
        "5 records valid.\n"
    )


def test_console_script(repo: Any) -> None:
    made = repo(example=True)
    result = process(
        "--env", "development", "plan", "--format", "json", cwd=made.root, command=[str(SCRIPT)]
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["environment"] == "development"
    assert process("--version", cwd=made.root, command=[str(SCRIPT)]).returncode == 0


@pytest.mark.parametrize(
    ("setup", "argv", "message"),
    [
        (lambda r: r.org("bad", b"oid: [\n"), ["validate"], "orgs/bad.yaml:2: error: "),
        (lambda r: r.org("bad", b"\xff\xfe"), ["plan"], "is not UTF-8"),
        (lambda r: r.settings("colour: blue\n"), ["plan"], "Error: reconciler.yaml is invalid"),
        (lambda r: r.settings("- x\n"), ["show"], "Error: reconciler.yaml, line 1"),
        (
            lambda r: r.write(".reconciler/sandbox/ledger.json", '{"version": 9}'),
            ["plan"],
            "format version 9",
        ),
        (lambda r: None, ["--env", "nope", "plan"], "Error: unknown environment 'nope'"),
    ],
)
def test_errors_are_one_paragraph_never_a_traceback(
    repo: Any, setup: Any, argv: list[str], message: str
) -> None:
    made = repo(example=True)
    setup(made)
    result = process(*argv, cwd=made.root)
    assert result.returncode == 1
    assert message in result.stdout + result.stderr


def test_a_repository_that_does_not_exist_is_an_error(tmp_path: Path, run_cli: Any) -> None:
    result = run_cli("plan", repo=tmp_path / "no-such-folder")
    assert result.exit_code == 1


def test_a_plan_file_that_cannot_be_written_is_an_error(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    made.write("occupied", "a file, not a folder\n")
    result = run_cli("plan", "--out", str(made.root / "occupied" / "plan.json"), repo=made)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")

"""Validation is acceptance (SPEC 1.1, 1.2): every rule runs on its own, each problem is reported
at the line of the key whose value is wrong, with the fix in the message, and nothing else is
reported. One test per rule of the catalog in mistakes.py, then the property: one to five
independent mistakes in a valid record give exactly their problems, at their lines."""

from __future__ import annotations

import json
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mistakes import (
    BASES,
    FOLDERS,
    MISTAKES,
    ORGANIZATION,
    RECORDS,
    Mistake,
    independent,
    key_line,
    to_yaml,
    with_mistakes,
)
from redox_schemas import assert_valid_bodies

from reconciler import reconcile
from reconciler.errors import Problem
from reconciler.kinds import KINDS
from reconciler.reconcile.workspace import Workspace

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CATALOG = [pytest.param(m, id=f"{m.kind}: {m.name}") for ms in MISTAKES.values() for m in ms]


def errors_of(kind: str, text: str, root: Path) -> list[Problem]:
    """The errors validate reports for one file of `kind` holding `text`."""
    folder = root / FOLDERS[kind]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "record.yaml").write_text(text, encoding="utf-8")
    found = reconcile.validate(Workspace(repo=root, env_name="sandbox"))
    return [p for p in found.problems if p.severity == "error"]


@pytest.mark.parametrize("kind", sorted(BASES))
def test_the_base_records_are_valid(kind: str, tmp_path: Path) -> None:
    assert errors_of(kind, to_yaml(BASES[kind]), tmp_path) == []


@pytest.mark.parametrize("mistake", CATALOG)
def test_each_rule_reports_its_mistake_at_the_keys_line(mistake: Mistake, tmp_path: Path) -> None:
    text, (line,) = with_mistakes(BASES[mistake.kind], [mistake])

    (found,) = errors_of(mistake.kind, text, tmp_path)

    assert (found.file, found.line) == (f"{FOLDERS[mistake.kind]}/record.yaml", line), text
    assert mistake.named_in(found.message), found.message
    assert mistake.says in found.message, found.message


def test_the_catalog_covers_every_documented_rule() -> None:
    names = {m.name for ms in MISTAKES.values() for m in ms}
    documented = {
        "OID syntax: second arc over 39",
        "type missing",
        "Implementer without contacts",
        "endpoint without a name",
        "no identifier",
        "email",
        "phone with dashes",
        "state a name",
        "ZIP too short",
        "name too long",
        "name with a tab",
        "active yes",
        "dob not a date",
        "time 9am",
        "day",
        "location status",
        "NPI of 9 digits",
    }
    assert documented <= names


@SETTINGS
@given(
    kind=st.sampled_from(sorted(MISTAKES)),
    data=st.data(),
    count=st.integers(1, 5),
)
def test_independent_mistakes_are_each_reported_at_their_line_and_nothing_else(
    kind: str, data: st.DataObject, count: int
) -> None:
    record = data.draw(RECORDS[kind], label="record")
    order = data.draw(st.permutations(MISTAKES[kind]), label="mistakes")
    chosen = independent(order, at_most=count)
    text, lines = with_mistakes(record, chosen)

    with tempfile.TemporaryDirectory() as root:
        found = errors_of(kind, text, Path(root))

    assert Counter(p.line for p in found) == Counter(lines), (text, found)
    unclaimed = list(found)
    for mistake, line in zip(chosen, lines, strict=True):
        match = next((p for p in unclaimed if p.line == line and mistake.named_in(p.message)), None)
        assert match is not None, (mistake.name, line, found, text)
        unclaimed.remove(match)
    assert unclaimed == []


# --- the cases, as a user meets them --------------------------------------------------

ZIP_AND_STATE = """\
oid: 2.16.840.1.113883.3.6147.458.12345.1.1.1
name: My Company Facility 1
type: Connection
part_of: 2.16.840.1.113883.3.6147.458.2
address:
  street_address: 2020 Eastwood Dr
  city: Madison
  state: Massachusetts
  zip: 01234
  country: USA
"""


def test_a_bad_zip_never_hides_a_bad_state(repo: Any, run_cli: Any) -> None:
    made = repo({"facility": ZIP_AND_STATE})

    result = run_cli("validate", repo=made)

    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "orgs/facility.yaml:8: error: address.state: 'Massachusetts' is not a two-letter USPS "
        "state code, as a USA address needs (e.g. WI)",
        "orgs/facility.yaml:9: error: address.zip: expected text, got a whole number 01234: put "
        'it in quotes ("01234")',
        "2 problems in 1 file: nothing was planned or applied.",
    ]


def test_github_annotations_point_at_the_nested_keys(repo: Any, run_cli: Any) -> None:
    made = repo({"facility": ZIP_AND_STATE})

    result = run_cli("validate", "--format", "github", repo=made)

    assert re.findall(r"^::error file=([^,]+),line=(\d+),", result.stdout, re.M) == [
        ("orgs/facility.yaml", "8"),
        ("orgs/facility.yaml", "9"),
    ]


# Redox's own example (reference/carequality-organization-record.txt), as YAML: it has no type.
REDOX_EXAMPLE = """\
oid: 2.16.840.1.113883.3.6147.458.12345.1.1.1
name: My Company
aliases: ["My Company, LLC", MY]
active: true
part_of: 2.16.840.1.113883.3.6147.458.2
destination_id: null
contacts:
  - purpose: Technical
    name: Redox Carequality Support - Test
    email_addresses: [support@redoxengine.com]
    phone_number: {work: "+16085359501", mobile: "+16085359501"}
address:
  street_address: 2020 Eastwood Dr
  city: Madison
  state: WI
  zip: "53704"
  county: Dane
  country: USA
"""


def test_redox_example_without_type_fails_naming_type_and_its_values(
    repo: Any, run_cli: Any
) -> None:
    made = repo({"my-company": REDOX_EXAMPLE})

    validated = run_cli("validate", repo=made)
    planned = run_cli("plan", repo=made)

    assert validated.exit_code == 1
    assert validated.stdout.splitlines()[0] == (
        "orgs/my-company.yaml:1: error: missing required key 'type': write type: Implementer "
        "or type: Connection (Carequality refuses a record without a type)"
    )
    assert planned.exit_code == 1
    assert "missing required key 'type'" in planned.stdout + planned.stderr


def test_redox_example_with_type_applies_to_the_sandbox(repo: Any, run_cli: Any) -> None:
    made = repo(
        {"my-company": REDOX_EXAMPLE.replace("active: true\n", "active: true\ntype: Implementer\n")}
    )

    assert run_cli("validate", repo=made).exit_code == 0
    applied = run_cli("apply", "--yes", repo=made)

    assert applied.exit_code == 0, applied.output
    assert "1 applied" in applied.stdout
    assert run_cli("plan", "--detailed-exitcode", repo=made).exit_code == 0
    log = made.root / ".reconciler" / "sandbox" / "requests.jsonl"
    sent = [json.loads(line)["body"] for line in log.read_text(encoding="utf-8").splitlines()]
    assert [b["Meta"]["EventType"] for b in sent] == ["New", "Query"]  # then read back
    assert "Verified: 1 of 1." in applied.stdout
    assert_valid_bodies(sent)


# --- YAML 1.1 words ---------------------------------------------------------------------------

WORDS = ["yes", "no", "on", "off", "y", "n", "Yes", "NO", "On", "oFF", "Y", "N"]


@pytest.mark.parametrize("word", WORDS)
@pytest.mark.parametrize("key", ["active", "name"])
def test_unquoted_yaml_1_1_words_are_errors_in_any_field(
    key: str, word: str, tmp_path: Path
) -> None:
    text = re.sub(
        f"^{key}: .*$", f"{key}: {word}", to_yaml(BASES[ORGANIZATION]), count=1, flags=re.M
    )
    assert f"\n{key}: {word}\n" in text

    (found,) = errors_of(ORGANIZATION, text, tmp_path)

    assert found.line == key_line(text, (key,))
    assert found.message == (
        f"{key}: {word} unquoted is a boolean to YAML 1.1 (PyYAML) and text to YAML 1.2 "
        f'(editors): write true or false, or quote the text ("{word}")'
    )


@pytest.mark.parametrize("written", ["'yes'", '"no"', "'Y'", "yes please", "Yesterday", "ON AIR"])
def test_quoted_words_and_longer_text_are_text(written: str, tmp_path: Path) -> None:
    text = to_yaml(BASES[ORGANIZATION]).replace("city: Madison\n", f"city: {written}\n")
    assert errors_of(ORGANIZATION, text, tmp_path) == []


@pytest.mark.parametrize("written", ["true", "false", "True", "FALSE"])
def test_true_and_false_are_booleans(written: str, tmp_path: Path) -> None:
    text = to_yaml(BASES[ORGANIZATION]).replace("active: true\n", f"active: {written}\n")
    assert errors_of(ORGANIZATION, text, tmp_path) == []


def test_import_quotes_the_words_it_writes(tmp_path: Path) -> None:
    from reconciler.formats import yamltext

    text = yamltext.dump({"name": "Y", "aliases": ["no", "On", "yes please"]}, sort_keys=False)
    assert text == "name: 'Y'\naliases:\n- 'no'\n- 'On'\n- yes please\n"


# --- the schema carries the rules --------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_the_schema_is_built_in_the_core_and_states_the_rules(kind: str) -> None:
    import json

    text = json.dumps(KINDS[kind].json_schema())

    expected = {
        "organization": ["patternErrorMessage", '"format": "email"', '"if"', '"enum"', "WI"],
        "provider": ["patternErrorMessage", '"format": "email"', '"if"', "Monday", "NPI"],
    }[kind]
    assert all(word in text for word in expected), kind

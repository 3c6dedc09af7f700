"""The organization examples people copy (the README's, the record `reconciler init` writes)
say what Redox's own example says (reference/carequality-organization-record.txt), as YAML
reads them: an alias with a comma in it stays one alias."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from factories import GATEWAY, PROJECT
from redox_schemas import REFERENCE

from reconciler.reconcile.workspace import Workspace
from reconciler.records.scaffold import template

# What an example may set differently from Redox's: Redox's placeholders ({{YOUR-...}}), and
# the type, which Redox's example leaves out and Carequality needs (SPEC 1.1).
PLACEHOLDERS = ("Identifiers", "PartOf", "DestinationID", "Type")


def redox_example() -> dict[str, Any]:
    """The Organizations[] item of Redox's Organization.New example, without its line
    numbers and comments."""
    path = REFERENCE / "carequality-organization-record.txt"
    if not path.is_file():
        pytest.skip(f"../shared/reference is not beside the repo ({path}); the example needs it")
    numbered = path.read_text(encoding="utf-8").split("-d '", 1)[1].split("}'", 1)[0] + "}"
    lines = [
        line
        for line in numbered.splitlines()
        if not line.strip().isdigit() and not line.strip().startswith("//")
    ]
    (item,) = json.loads("\n".join(lines))["Organizations"]
    assert isinstance(item, dict)
    return item


def readme_example() -> str:
    """The YAML of the README's organization record (the block under "### Organizations")."""
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Organizations", 1)[1]
    found = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert found, "the README shows no organization record"
    return found.group(1)


def sent(text: str, tmp_path: Path, *, env: str = "development") -> dict[str, Any]:
    """The Organizations[] item that one organization file sends to `env` (it must be valid)."""
    (tmp_path / "orgs").mkdir()
    (tmp_path / "orgs" / "example.yaml").write_text(text, encoding="utf-8")
    (desired,) = Workspace(repo=tmp_path, env_name=env).desired.values()
    payload: dict[str, Any] = desired.payload
    return payload


def test_the_readme_example_sends_redoxs_aliases_contacts_and_address(tmp_path: Path) -> None:
    redox = redox_example()

    payload = sent(readme_example(), tmp_path)

    assert payload["Aliases"] == redox["Aliases"] == ["My Company, LLC", "MY"]
    for field in ("Active", "Contacts", "Address"):
        assert payload[field] == redox[field], field


def test_the_record_init_writes_is_redoxs_example(tmp_path: Path) -> None:
    redox = redox_example()

    payload = sent(template("orgs/example-clinic.yaml"), tmp_path)

    assert {k: v for k, v in payload.items() if k not in PLACEHOLDERS} == {
        k: v for k, v in redox.items() if k not in PLACEHOLDERS
    }
    assert payload["PartOf"] == {"Identifier": {"Value": GATEWAY}}  # "should be Redox"
    assert payload["DestinationID"] is None  # "You can use null for testing"
    assert [i["IDType"] for i in payload["Identifiers"]] == ["OID"]
    assert payload["Type"] == {"Value": "Implementer"}

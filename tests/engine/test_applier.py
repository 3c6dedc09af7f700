"""Providers through apply and the in-process sandbox: one call of the right event per change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from redox_schemas import assert_valid_bodies

from reconciler.cli import cli

PROVIDER = """\
identifiers:
  - {id: "1245319599", id_type: NPI}
active: %(active)s
demographics:
  first_name: Dana
  last_name: Okafor
  sex: %(sex)s
"""


def write(repo: Path, *, active: str = "true", sex: str = "Female") -> None:
    folder = repo / "providers"
    folder.mkdir(exist_ok=True)
    (folder / "dana.yaml").write_text(PROVIDER % {"active": active, "sex": sex}, encoding="utf-8")


def apply(repo: Path) -> None:
    result = CliRunner().invoke(cli, ["apply", "--yes", "--repo", str(repo)])
    assert result.exit_code == 0, result.output + result.stderr


def provider_calls(repo: Path) -> list[dict[str, Any]]:
    log = repo / ".reconciler" / "sandbox" / "requests.jsonl"
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return [e for e in entries if e.get("data_model") == "Provider"]


def stored(repo: Path) -> dict[str, Any]:
    """The sandbox's record of the provider, replayed from its journal."""
    journal = repo / ".reconciler" / "sandbox" / "directory.jsonl"
    last: dict[str, Any] = {}
    for line in journal.read_text(encoding="utf-8").splitlines():
        change = json.loads(line)
        if change.get("identity") == "1245319599":
            last = change["record"]
    return last


def test_each_action_sends_one_call_of_its_event(tmp_path: Path) -> None:
    steps = [
        ({"active": "true", "sex": "Female"}, "New"),
        ({"active": "true", "sex": "Unknown"}, "Update"),
        ({"active": "false", "sex": "Unknown"}, "Deactivate"),
        ({"active": "true", "sex": "Unknown"}, "Activate"),
    ]
    for done, (values, event) in enumerate(steps, start=1):
        write(tmp_path, **values)
        apply(tmp_path)
        calls = provider_calls(tmp_path)
        assert len(calls) == done, calls
        assert calls[-1]["event_type"] == event
    apply(tmp_path)
    calls = provider_calls(tmp_path)
    assert len(calls) == len(steps), "a no-op apply sends nothing"
    assert_valid_bodies([c["body"] for c in calls])


def test_a_deactivation_that_also_changes_fields_keeps_the_changes(tmp_path: Path) -> None:
    write(tmp_path, active="true", sex="Female")
    apply(tmp_path)
    write(tmp_path, active="false", sex="Unknown")
    apply(tmp_path)
    events = [c["event_type"] for c in provider_calls(tmp_path)]
    assert events == ["New", "Update", "Deactivate"]
    record = stored(tmp_path)
    assert record["Demographics"]["Sex"] == "Unknown"
    assert record["IsActive"] is False

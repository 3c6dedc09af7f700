"""`status`: every record x every environment, from the files and the ledgers only."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from factories import Repo, organization, settle
from sandbox_server import example_repo, run_cli, served_sandbox

from reconciler.ledger import file as ledger_file
from reconciler.ledger import model as ledgers

ORGS = {"a": 1, "b": 2, "c": 3}


def status_of(run: Any, made: Repo, *args: str) -> dict[str, Any]:
    done = run("status", "--format", "json", *args, repo=made)
    assert done.exit_code == 0, done.output
    document: dict[str, Any] = json.loads(done.output)
    return document


def cells(document: dict[str, Any]) -> dict[str, dict[str, str]]:
    """identity -> environment -> state."""
    return {r["identity"]: r["status"] for r in document["records"]}


def test_after_applying_to_development_only_production_has_everything_pending(
    tmp_path: Path,
) -> None:
    repo = example_repo(tmp_path / "repo")
    with served_sandbox(tmp_path / "served") as served:
        done = run_cli(repo, "apply", "--yes", "--env", "development", environ=served.environ())
        assert done.returncode == 0, done.stderr
    # The views read only files and ledgers: no credentials, no server.
    done = run_cli(repo, "status", "--format", "json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["environments"] == ["development", "production"]
    assert len(document["records"]) == 7
    for record in document["records"]:
        assert record["status"] == {"development": "in sync", "production": "create pending"}
        assert set(record) == {"key", "kind", "identity", "name", "source", "status"}
    text = run_cli(repo, "status").stdout
    header, *rows = text.split("\n\n")[0].splitlines()
    assert header.split()[-2:] == ["development", "production"]
    assert all(row.split()[-4:] == ["in", "sync", "create", "pending"] for row in rows)
    counts = text.split("\n\n")[1].splitlines()
    assert [line.split() for line in counts] == [
        ["in", "sync", "7", "0"],
        ["create", "pending", "0", "7"],
    ]


def test_every_state_is_shown(repo: Callable[..., Repo], run_cli: Any) -> None:
    made = repo({name: organization(n) for name, n in ORGS.items()}, settings={"missing": "error"})
    for env in ("development", "production"):
        settle(made.workspace(env))
    # development: b updated in the files, c deactivated, an intent left on a, d only ledgered
    made.org("b", organization(2, name="Renamed"))
    made.org("c", organization(3, active=False))
    dev = made.workspace("development")
    current = dev.ledger()
    a_key = next(k for k in current.records if k.endswith(".1"))
    intent = ledgers.Intent(
        kind="organization",
        identity=a_key.split(":", 1)[1],
        action="update",
        payload=current.records[a_key].payload,
        started_at=ledgers.now(),
    )
    entry = current.records[a_key]
    gone_key = a_key[:-1] + "9"
    gone = entry.model_copy(update={"identity": gone_key.split(":", 1)[1], "status": "inactive"})
    current = current.with_intent(a_key, intent).with_entry(gone_key, gone)
    ledger_file.save(dev.ledger_store.path, current)
    # production: its ledger holds b inactive: turning active again is a reactivation (also
    # when b is unverified: what the plan would do comes first); a is applied but unverified.
    prod = made.workspace("production")
    mine = prod.ledger()
    b_key = next(k for k in mine.records if k.endswith(".2"))
    b_entry = mine.records[b_key]
    inactive = b_entry.model_copy(
        update={
            "status": "inactive",
            "digest": "x",
            "payload": {**b_entry.payload, "Active": False},
            "unverified": True,
        }
    )
    mine = mine.with_entry(b_key, inactive).with_verified(a_key, False)
    ledger_file.save(prod.ledger_store.path, mine)

    found = cells(status_of(run_cli, made))
    by_suffix = {identity.rsplit(".", 1)[1]: cell for identity, cell in found.items()}
    assert by_suffix == {
        "1": {"development": "intent pending", "production": "unverified"},
        "2": {"development": "update pending", "production": "reactivate pending"},
        "3": {"development": "deactivate pending", "production": "deactivate pending"},
        "9": {"development": "no file", "production": "no file"},
    }
    text = run_cli("status", repo=made).output
    counts = [line.split() for line in text.split("\n\n")[1].splitlines()]
    assert counts == [
        ["update", "pending", "1", "0"],
        ["deactivate", "pending", "1", "1"],
        ["reactivate", "pending", "0", "1"],
        ["unverified", "0", "1"],
        ["intent", "pending", "1", "0"],
        ["no", "file", "1", "1"],
    ]


def test_a_record_without_a_file_is_deactivate_pending_under_missing_deactivate(
    repo: Callable[..., Repo], run_cli: Any
) -> None:
    made = repo(
        {name: organization(n) for name, n in ORGS.items()}, settings={"missing": "deactivate"}
    )
    settle(made.workspace("development"))
    (made.root / "orgs/c.yaml").unlink()
    states = {i.rsplit(".", 1)[1]: c for i, c in cells(status_of(run_cli, made)).items()}
    assert states["3"] == {"development": "deactivate pending", "production": "no file"}
    assert states["1"] == {"development": "in sync", "production": "create pending"}


@pytest.mark.parametrize(
    ("args", "environ", "columns"),
    [
        ((), {}, ["development", "production", "staging"]),
        (("--env", "sandbox"), {}, ["development", "production", "staging", "sandbox"]),
        ((), {"REDOX_ENV": "sandbox"}, ["development", "production", "staging", "sandbox"]),
        (("--env", "production"), {}, ["development", "production", "staging"]),
    ],
)
def test_the_columns_are_the_settings_environments_and_the_sandbox_when_named(
    repo: Callable[..., Repo],
    run_cli: Any,
    args: tuple[str, ...],
    environ: dict[str, str],
    columns: list[str],
) -> None:
    made = repo({"a": organization(1)}, settings={"environments": {"staging": {}}})
    done = run_cli("status", "--format", "json", *args, repo=made, env=environ)
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["environments"] == columns


def test_invalid_files_are_reported_not_a_traceback(
    repo: Callable[..., Repo], run_cli: Any
) -> None:
    made = repo({"a": organization(1, zip="1234")})
    done = run_cli("status", repo=made)
    assert done.exit_code == 1
    assert "orgs/a.yaml" in done.output

"""The plan: which records change and how, in which order, and when it is refused."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import GATEWAY, OMIT, PARENT, Repo, dump, organization

from reconciler import reconcile
from reconciler.errors import PlanError
from reconciler.model import Action
from reconciler.plan import FieldChange, Plan, build_plan
from reconciler.plan.saved import plan_from_document
from reconciler.records.loader import desired_digest


def actions(plan: Plan) -> list[tuple[str, str]]:
    return [(c.action.value, c.identity) for c in plan.changes]


def family(repo: Any) -> tuple[Repo, dict[str, dict[str, Any]]]:
    """A parent, a child and a grandchild; file names sort the other way round."""
    parent = organization(1)
    child = organization(2, parent=parent["oid"])
    grandchild = organization(3, parent=child["oid"])
    records = {"a-grandchild": grandchild, "b-child": child, "c-parent": parent}
    return repo(records), records


# --- actions ----------------------------------------------------------------------------------


def test_an_empty_ledger_creates_every_record_parents_first(repo: Any) -> None:
    made, records = family(repo)
    plan = made.plan()
    assert actions(plan) == [
        ("create", records["c-parent"]["oid"]),
        ("create", records["b-child"]["oid"]),
        ("create", records["a-grandchild"]["oid"]),
    ]
    create = plan.changes[0]
    assert create.before is None
    assert create.fields == ()
    assert create.envelope == {"Directory": "Carequality"}
    assert create.source == "orgs/c-parent.yaml"
    assert create.name == "Test Facility 1"


def test_creates_wait_for_their_parents(repo: Any) -> None:
    made, records = family(repo)
    plan = made.plan()
    key = {name: f"organization:{data['oid']}" for name, data in records.items()}
    depends = {c.key: c.depends_on for c in plan.changes}
    assert depends == {
        key["c-parent"]: (),
        key["b-child"]: (key["c-parent"],),
        key["a-grandchild"]: (key["b-child"],),
    }


def test_a_settled_ledger_plans_nothing(repo: Any) -> None:
    made, _ = family(repo)
    made.settle()
    plan = made.plan()
    assert plan.empty
    assert plan.changes == ()
    assert plan.serial == 1


def test_an_update_lists_each_changed_field_by_redox_path(repo: Any) -> None:
    data = organization(1, aliases=["A", "B"])
    made = repo({"clinic": data})
    made.settle()
    data["address"]["city"] = "Fitchburg"
    data["aliases"] = ["A"]
    data["contacts"][0]["phone_number"]["mobile"] = "+16085550199"
    data["destination_id"] = "d-1"
    made.org("clinic", data)
    (change,) = made.plan().changes
    assert change.action is Action.UPDATE
    assert change.fields == (
        FieldChange("Address.City", before="Madison", after="Fitchburg"),
        FieldChange("Aliases[1]", before="B", removed=True),
        FieldChange("Contacts[0].PhoneNumber.Mobile", after="+16085550199", added=True),
        FieldChange("DestinationID", after="d-1", added=True),
    )
    assert change.before is not None
    assert change.before["Address"]["City"] == "Madison"
    assert change.after["Address"]["City"] == "Fitchburg"


def test_a_changed_directory_is_an_update(repo: Any) -> None:
    made = repo({"clinic": organization(1)})
    made.settle()
    made.org("clinic", organization(1, directory="Other"))
    (change,) = made.plan().changes
    assert change.action is Action.UPDATE
    assert change.fields == (FieldChange("Directory", before="Carequality", after="Other"),)
    assert change.envelope == {"Directory": "Other"}


def test_deactivate_and_reactivate(repo: Any) -> None:
    made = repo({"clinic": organization(1)})
    made.settle()
    made.org("clinic", organization(1, active=False))
    (change,) = made.plan().changes
    assert change.action is Action.DEACTIVATE
    assert change.fields == (FieldChange("Active", before=True, after=False),)
    made.settle()
    made.org("clinic", organization(1, active=True, name="Renamed"))
    (change,) = made.plan().changes
    assert change.action is Action.REACTIVATE
    assert [f.path for f in change.fields] == ["Active", "Name"]


def test_deactivations_go_children_first(repo: Any) -> None:
    made, records = family(repo)
    made.settle()
    for name, data in records.items():
        made.org(name, {**data, "active": False})
    plan = made.plan()
    assert actions(plan) == [
        ("deactivate", records["a-grandchild"]["oid"]),
        ("deactivate", records["b-child"]["oid"]),
        ("deactivate", records["c-parent"]["oid"]),
    ]
    key = {name: f"organization:{data['oid']}" for name, data in records.items()}
    depends = {c.key: c.depends_on for c in plan.changes}
    assert depends[key["c-parent"]] == (key["b-child"],)
    assert depends[key["b-child"]] == (key["a-grandchild"],)


def test_action_order_is_create_update_deactivate_reactivate(repo: Any) -> None:
    made = repo({f"r{n}": organization(n) for n in range(1, 5)})
    made.settle()
    made.org("r1", organization(1, active=False))
    made.org("r2", organization(2, name="Changed"))
    made.org("r5", organization(5))
    made.org("r4", organization(4, active=False))
    made.settle()
    made.org("r4", organization(4, active=True))
    made.org("r3", organization(3, active=False))
    made.org("r6", organization(6))
    made.org("r2", organization(2, name="Again"))
    assert [a for a, _ in actions(made.plan())] == ["create", "update", "deactivate", "reactivate"]


def test_a_reactivated_parent_comes_before_its_created_child(repo: Any) -> None:
    parent = organization(1, active=False)
    made = repo({"parent": parent})
    made.settle()
    made.org("parent", {**parent, "active": True})
    made.org("child", organization(2, parent=parent["oid"]))
    plan = made.plan()
    assert actions(plan) == [("create", f"{parent['oid']}.2"), ("reactivate", parent["oid"])]
    assert plan.changes[0].depends_on == (f"organization:{parent['oid']}",)


# --- a record whose file is gone --------------------------------------------------------------


def test_a_removed_file_is_an_error_naming_the_file(repo: Any) -> None:
    made = repo({"keep": organization(1), "gone": organization(2)})
    made.settle()
    (made.root / "orgs" / "gone.yaml").unlink()
    with pytest.raises(PlanError) as caught:
        made.plan()
    message = str(caught.value)
    assert "1 ledgered record is missing from the files" in message
    assert f"organization {organization(2)['oid']} was last applied from orgs/gone.yaml" in message
    assert "`active: false`" in message
    assert "missing: deactivate" in message


def test_a_removed_file_of_an_inactive_record_is_fine(repo: Any) -> None:
    made = repo({"keep": organization(1), "gone": organization(2, active=False)})
    made.settle()
    (made.root / "orgs" / "gone.yaml").unlink()
    assert made.plan().empty


def test_missing_deactivate_plans_a_deactivation(repo: Any) -> None:
    made = repo(
        {"keep": organization(1), "gone": organization(2)}, settings={"missing": "deactivate"}
    )
    made.settle()
    before = made.workspace().ledger().records[f"organization:{organization(2)['oid']}"].payload
    (made.root / "orgs" / "gone.yaml").unlink()
    (change,) = made.plan().changes
    assert (change.action, change.identity) == (Action.DEACTIVATE, organization(2)["oid"])
    assert change.before == before
    assert change.after == {**before, "Active": False}
    assert change.fields == (FieldChange("Active", before=True, after=False),)
    assert change.source == "orgs/gone.yaml"


# --- safety -----------------------------------------------------------------------------------


def ten_settled(repo: Any) -> Repo:
    made = repo({f"r{n:02d}": organization(n) for n in range(1, 11)})
    made.settle()
    return made


def test_deactivating_more_than_the_fraction_is_unsafe(repo: Any, run_cli: Any) -> None:
    made = ten_settled(repo)
    for n in range(1, 5):
        made.org(f"r{n:02d}", organization(n, active=False))
    plan = made.plan()
    assert plan.unsafe is not None
    assert "deactivates 4 of 10 active records (40%)" in plan.unsafe
    assert "--force" in plan.unsafe
    refused = run_cli("plan", repo=made)
    assert refused.exit_code == 1
    assert "Error: this plan deactivates 4 of 10 active records" in refused.stderr
    forced = run_cli("plan", "--force", repo=made)
    assert forced.exit_code == 0
    assert run_cli("plan", "--force", "--detailed-exitcode", repo=made).exit_code == 2


def test_deactivating_up_to_the_fraction_is_safe(repo: Any) -> None:
    made = ten_settled(repo)
    for n in range(1, 4):
        made.org(f"r{n:02d}", organization(n, active=False))
    assert made.plan().unsafe is None


def test_the_fraction_applies_from_the_minimum_count(repo: Any) -> None:
    made = repo({f"r{n}": organization(n) for n in range(1, 10)})
    made.settle()
    for n in range(1, 10):
        made.org(f"r{n}", organization(n, active=False))
    assert made.plan().unsafe is None  # 9 active records: below min_records_for_fraction


def test_the_safety_limits_come_from_settings(repo: Any) -> None:
    made = ten_settled(repo)
    made.settings({"safety": {"max_deactivate_fraction": 0.05}})
    made.org("r01", organization(1, active=False))
    assert made.plan().unsafe is not None


def test_missing_deactivate_counts_toward_safety(repo: Any) -> None:
    made = ten_settled(repo)
    made.settings({"missing": "deactivate"})
    for n in range(1, 5):
        (made.root / "orgs" / f"r{n:02d}.yaml").unlink()
    assert "deactivates 4 of 10" in (made.plan().unsafe or "")


# --- saved plans and targets ------------------------------------------------------------------


def test_a_saved_plan_round_trips(repo: Any, run_cli: Any) -> None:
    made, _ = family(repo)
    made.settle()
    made.org("c-parent", organization(1, name="Renamed"))
    made.org("d-new", organization(4))
    out = made.root / "plans" / "next.json"
    result = run_cli("plan", "--out", str(out), repo=made)
    assert result.exit_code == 0
    assert f"Saved the plan to {out}" in result.stderr
    doc = json.loads(out.read_text())
    ws = made.workspace()
    ledger = ws.ledger()
    assert (doc["lineage"], doc["serial"]) == (ledger.lineage, ledger.serial)
    assert doc["desired_digest"] == desired_digest(ws.desired)
    assert plan_from_document(doc) == reconcile.plan(ws)


@pytest.mark.parametrize(
    ("deactivated", "written", "exit_code"),
    [
        (4, None, 1),  # unsafe, the reason erased from the file: still refused
        (1, "text", 0),  # safe, a reason made up in the file: still applied
    ],
)
def test_a_saved_plans_safety_is_decided_again_not_read_from_the_file(
    repo: Any, run_cli: Any, deactivated: int, written: str | None, exit_code: int
) -> None:
    made = repo({f"r{n:02d}": organization(n) for n in range(1, 11)})
    assert run_cli("apply", "--yes", repo=made).exit_code == 0
    for n in range(1, deactivated + 1):
        made.org(f"r{n:02d}", organization(n, active=False))
    out = made.root / "plan.json"
    assert run_cli("plan", "--force", "--out", str(out), repo=made).exit_code == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert (doc["unsafe"] is not None) == (deactivated == 4)
    doc["unsafe"] = written  # not covered by the plan digest
    out.write_text(json.dumps(doc), encoding="utf-8")
    before = made.workspace().ledger()

    result = run_cli("apply", str(out), "--yes", repo=made)

    assert result.exit_code == exit_code, result.output
    after = made.workspace().ledger()
    if exit_code == 1:
        assert "deactivates 4 of 10 active records" in result.stderr
        assert "--force" in result.stderr
        assert after.serial == before.serial
    else:
        assert "Error" not in result.output
        assert after.records[f"organization:{organization(1)['oid']}"].status == "inactive"


def test_the_desired_digest_ignores_files_and_follows_content(repo: Any) -> None:
    made, records = family(repo)
    digest = made.plan().desired_digest
    (made.root / "orgs" / "b-child.yaml").rename(made.root / "orgs" / "renamed.yaml")
    assert made.plan().desired_digest == digest
    made.org("c-parent", {**records["c-parent"], "name": "Other"})
    assert made.plan().desired_digest != digest


def test_a_damaged_saved_plan_is_refused() -> None:
    with pytest.raises(PlanError, match="format version"):
        plan_from_document({"format_version": 99})
    with pytest.raises(PlanError, match="damaged"):
        plan_from_document({"format_version": 1, "changes": [{"kind": "organization"}]})


def test_only_keeps_the_targets_and_what_they_depend_on(repo: Any) -> None:
    made, records = family(repo)
    made.org("z-other", organization(9))
    plan = made.plan()
    grandchild = records["a-grandchild"]["oid"]
    kept = plan.only([grandchild])
    assert [c.identity for c in kept.changes] == [
        records["c-parent"]["oid"],
        records["b-child"]["oid"],
        grandchild,
    ]
    assert [c.identity for c in plan.only([f"organization:{organization(9)['oid']}"]).changes] == [
        organization(9)["oid"]
    ]
    assert plan.only(["9.9.9"]).changes == ()


def test_build_plan_is_pure_over_its_inputs(repo: Any) -> None:
    made, _ = family(repo)
    ws = made.workspace()
    ledger = ws.ledger()
    first = build_plan(ws.desired, ledger, desired_digest="d")
    second = build_plan(dict(reversed(list(ws.desired.items()))), ledger, desired_digest="d")
    assert first == second
    assert ws.ledger() == replace(ledger)


# --- the acceptance, through the CLI ----------------------------------------------------------


def test_example_repo_plans_creates_parent_first(repo: Any, run_cli: Any) -> None:
    made = repo(example=True)
    result = run_cli("plan", repo=made)
    assert result.exit_code == 0
    creates = [line for line in result.stdout.splitlines() if line.startswith("  + create")]
    assert len(creates) == 5
    assert creates[0].startswith(f"  + create organization {PARENT}  Northwind Health")
    assert result.stdout.endswith(
        "Plan: 5 to create, 0 to update, 0 to deactivate, 0 to reactivate.\n"
    )
    assert run_cli("plan", "--detailed-exitcode", repo=made).exit_code == 2
    doc = json.loads(run_cli("plan", "--format", "json", repo=made).stdout)
    assert doc["changes"][0]["identity"] == PARENT
    assert all(c["depends_on"] == [f"organization:{PARENT}"] for c in doc["changes"][1:])


def settled_example(repo: Any, run_cli: Any) -> Repo:
    made = repo(example=True)
    made.settle()
    assert run_cli("plan", "--detailed-exitcode", repo=made).exit_code == 0
    return made


def test_renaming_a_file_changes_nothing(repo: Any, run_cli: Any) -> None:
    made = settled_example(repo, run_cli)
    orgs = made.root / "orgs"
    (orgs / "northwind-health.yaml").rename(orgs / "00-the-parent.yml")
    (orgs / "wisconsin").mkdir()
    shutil.move(orgs / "madison-east-clinic.yaml", orgs / "wisconsin" / "madison.yaml")
    result = run_cli("plan", "--detailed-exitcode", repo=made)
    assert result.exit_code == 0, result.output
    assert "No changes" in result.stdout


def test_reordering_keys_and_changing_quoting_changes_nothing(repo: Any, run_cli: Any) -> None:
    made = settled_example(repo, run_cli)
    for path in sorted((made.root / "orgs").glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        backwards = dict(reversed(list(data.items())))
        path.write_text(
            "# rewritten\n" + yaml.safe_dump(backwards, default_style='"', sort_keys=False)
        )
    assert run_cli("plan", "--detailed-exitcode", repo=made).exit_code == 0


def test_a_real_edit_is_an_update(repo: Any, run_cli: Any) -> None:
    made = settled_example(repo, run_cli)
    path = made.root / "orgs" / "madison-east-clinic.yaml"
    path.write_text(path.read_text().replace("city: Madison", "city: Fitchburg"))
    result = run_cli("plan", "--detailed-exitcode", repo=made)
    assert result.exit_code == 2
    assert '      Address.City: "Madison" -> "Fitchburg"' in result.stdout
    assert "Plan: 0 to create, 1 to update, 0 to deactivate, 0 to reactivate." in result.stdout


def test_removing_a_ledgered_file_fails_naming_it(repo: Any, run_cli: Any) -> None:
    made = settled_example(repo, run_cli)
    (made.root / "orgs" / "rockford-family-medicine.yaml").unlink()
    result = run_cli("plan", repo=made)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "orgs/rockford-family-medicine.yaml" in result.stderr
    assert "`active: false`" in result.stderr


def test_removing_a_ledgered_file_with_missing_deactivate(repo: Any, run_cli: Any) -> None:
    made = settled_example(repo, run_cli)
    settings = yaml.safe_load((made.root / "reconciler.yaml").read_text())
    made.settings(dump({**settings, "missing": "deactivate"}))
    (made.root / "orgs" / "rockford-family-medicine.yaml").unlink()
    result = run_cli("plan", "--detailed-exitcode", repo=made)
    assert result.exit_code == 2
    assert f"  - deactivate organization {PARENT}.2  Northwind Rockford Family Medicine" in (
        result.stdout
    )
    assert "Plan: 0 to create, 0 to update, 1 to deactivate, 0 to reactivate." in result.stdout


def test_plan_writes_nothing(repo: Any, run_cli: Any) -> None:
    made = repo({"a": organization(1, part_of=GATEWAY, address=OMIT)})
    before = sorted(p.relative_to(made.root) for p in made.root.rglob("*"))
    assert run_cli("plan", "--no-cache", repo=made).exit_code == 0
    assert sorted(p.relative_to(made.root) for p in made.root.rglob("*")) == before
    # Nothing but its own cache, which git ignores (.reconciler/cache/.gitignore).
    assert run_cli("plan", repo=made).exit_code == 0
    after = sorted(p.relative_to(made.root) for p in made.root.rglob("*"))
    cache = Path(".reconciler", "cache")
    assert [p for p in after if p not in before and cache not in p.parents] == [
        cache.parent,
        cache,
    ]

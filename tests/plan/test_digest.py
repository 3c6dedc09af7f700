"""The plan digest (SPEC 2): what it covers and what it ignores, where each rendering shows it,
saved plans that carry it, and `apply --expect-digest` against the sandbox."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from factories import OMIT, PARENT, organization_payload
from sandbox_server import example_repo, ledger_doc, set_key

from reconciler import reconcile
from reconciler.cli import cli
from reconciler.formats.jsontext import Canonical, canonical_json, canonical_with_digest, pack
from reconciler.model import Action
from reconciler.plan import DIGEST_PATTERN, Change, FieldChange, Plan, plan_digest
from reconciler.reconcile.workspace import Workspace
from reconciler.render import plan_document, render_markdown, render_text

ZERO = "sha256:" + "0" * 64


def invoke(repo: Path, *args: str) -> Result:
    """`reconciler ARGS --repo REPO` in this process, no REDOX_* variable set."""
    unset: dict[str, str | None] = {k: None for k in os.environ if k.startswith("REDOX_")}
    result = CliRunner().invoke(cli, [*args, "--repo", str(repo)], env={**unset, "NO_COLOR": "1"})
    assert "Traceback" not in result.output
    return result


def payload(oid: str, *, city: str = "Madison", active: bool = True) -> dict[str, Any]:
    """Clinic <n>: a record with a name, an address and nothing else."""
    return organization_payload(
        oid,
        f"Clinic {oid.rsplit('.', 1)[-1]}",
        active=active,
        type=OMIT,
        part_of=OMIT,
        Address={"City": city, "State": "WI"},
    )


def a_plan(**plan_fields: Any) -> Plan:
    """A create and an update, in plan order."""
    created, updated = f"{PARENT}.1", f"{PARENT}.2"
    changes = (
        Change(
            kind="organization",
            identity=created,
            action=Action.CREATE,
            envelope={"Directory": "Carequality"},
            before=None,
            packed_after=pack(payload(created)),
            source="orgs/one.yaml",
        ),
        Change(
            kind="organization",
            identity=updated,
            action=Action.UPDATE,
            envelope={"Directory": "Carequality"},
            before=payload(updated),
            packed_after=pack(payload(updated, city="Verona")),
            fields=(FieldChange("Address.City", before="Madison", after="Verona"),),
            source="orgs/two.yaml",
            depends_on=(f"organization:{created}",),
        ),
    )
    values: dict[str, Any] = {
        "environment": "development",
        "lineage": "lineage-1",
        "serial": 3,
        "desired_digest": "d" * 64,
        "changes": changes,
    }
    values.update(plan_fields)
    return Plan(**values)


def changed(plan: Plan, index: int, **fields: Any) -> Plan:
    """`plan` with one change's fields replaced."""
    changes = list(plan.changes)
    changes[index] = replace(changes[index], **fields)
    return replace(plan, changes=tuple(changes))


# --- what the digest covers ------------------------------------------------------------------


def test_the_digest_is_sha256_of_the_canonical_json_of_environment_and_changes() -> None:
    plan = a_plan()
    whole = {
        "environment": "development",
        "changes": [
            {
                "action": c.action.value,
                "kind": c.kind,
                "identity": c.identity,
                "envelope": c.envelope,
                "before": c.before,
                "after": c.after,
            }
            for c in plan.changes
        ],
    }
    expected = hashlib.sha256(canonical_json(whole).encode()).hexdigest()
    assert plan.digest == f"sha256:{expected}"
    assert DIGEST_PATTERN.fullmatch(plan.digest)
    empty = hashlib.sha256(b'{"changes":[],"environment":"sandbox"}').hexdigest()
    assert plan_digest("sandbox", ()) == f"sha256:{empty}"


def test_a_payload_packed_canonically_is_placed_not_encoded_again() -> None:
    """A payload read from a file is packed as its canonical JSON (Canonical): the digest places
    that text in the document; it must be the digest of the document encoded whole."""
    plan = a_plan()
    canonical = replace(
        plan,
        changes=tuple(
            replace(c, packed_after=canonical_with_digest(c.envelope, c.after)[0])
            for c in plan.changes
        ),
    )
    assert all(isinstance(c.packed_after, Canonical) for c in canonical.changes)
    assert canonical.digest == plan.digest
    unicode = changed(canonical, 0, before={"Name": 'Café \u2028 "quoted"'}, identity="é")
    assert (
        unicode.digest
        == changed(plan, 0, before={"Name": 'Café \u2028 "quoted"'}, identity="é").digest
    )


def test_the_digest_ignores_files_serials_field_lists_and_key_order() -> None:
    plan = a_plan()
    same = [
        a_plan(lineage="another", serial=99, desired_digest="e" * 64, refreshed=True),
        a_plan(warnings=("a warning",), unsafe="too many"),
        changed(plan, 0, source="orgs/renamed/elsewhere.yaml"),
        changed(plan, 1, fields=(), depends_on=()),
        changed(
            plan,
            1,
            packed_after=pack(dict(reversed(payload(f"{PARENT}.2", city="Verona").items()))),
        ),
    ]
    for other in same:
        assert other.digest == plan.digest


@pytest.mark.parametrize(
    "edit",
    [
        {"environment": "production"},
        {"index": 1, "action": Action.DEACTIVATE},
        {"index": 1, "kind": "provider"},
        {"index": 1, "identity": f"{PARENT}.9"},
        {"index": 1, "envelope": {"Directory": "Other"}},
        {"index": 1, "before": payload(f"{PARENT}.2", city="Verona")},
        {"index": 1, "packed_after": pack(payload(f"{PARENT}.2", city="Fitchburg"))},
        {"index": 0, "packed_after": pack({**payload(f"{PARENT}.1"), "Aliases": []})},
    ],
)
def test_the_digest_changes_with_any_digested_field(edit: dict[str, Any]) -> None:
    plan = a_plan()
    if "index" in edit:
        index = edit.pop("index")
        other = changed(plan, index, **edit)
    else:
        other = replace(plan, **edit)
    assert other.digest != plan.digest


def test_the_digest_follows_plan_order_and_targets() -> None:
    plan = a_plan()
    assert replace(plan, changes=plan.changes[::-1]).digest != plan.digest
    assert plan.only([f"{PARENT}.1"]).digest != plan.digest


# --- where it is shown -----------------------------------------------------------------------


def test_each_rendering_carries_the_same_digest() -> None:
    plan = a_plan()
    lines = render_text(plan).splitlines()
    assert lines[-2:] == [
        f"Plan digest: {plan.digest}",
        "Plan: 1 to create, 1 to update, 0 to deactivate, 0 to reactivate.",
    ]
    assert plan_document(plan)["plan_digest"] == plan.digest
    markdown = render_markdown(plan)
    assert f"Plan digest: `{plan.digest}`" in markdown
    assert f"<!-- reconciler:plan-digest env=development {plan.digest} -->" in markdown
    # A plan too long for a comment keeps its digest.
    short = render_markdown(plan, limit=2_000)
    assert f"<!-- reconciler:plan-digest env=development {plan.digest} -->" in short


def test_the_cli_renderings_agree_a_rename_keeps_the_digest_an_edit_changes_it(
    tmp_path: Path,
) -> None:
    repo = example_repo(tmp_path / "repo")
    as_json = invoke(repo, "plan", "--format", "json")
    digest = json.loads(as_json.stdout)["plan_digest"]
    assert DIGEST_PATTERN.fullmatch(digest)
    text = invoke(repo, "plan").stdout
    assert f"\nPlan digest: {digest}\nPlan: " in text
    markdown = invoke(repo, "plan", "--format", "markdown").stdout
    assert f"Plan digest: `{digest}`" in markdown
    assert f"<!-- reconciler:plan-digest env=sandbox {digest} -->" in markdown

    orgs = repo / "orgs"
    (orgs / "rockford-family-medicine.yaml").rename(orgs / "zz-renamed.yaml")
    assert json.loads(invoke(repo, "plan", "--format", "json").stdout)["plan_digest"] == digest
    set_key(orgs / "zz-renamed.yaml", "city", "Loves Park")
    assert json.loads(invoke(repo, "plan", "--format", "json").stdout)["plan_digest"] != digest


# --- saved plans -----------------------------------------------------------------------------


def test_a_saved_plan_carries_its_digest_and_an_edited_one_is_refused(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    out = repo / "next.json"
    assert invoke(repo, "plan", "--out", str(out)).exit_code == 0
    doc = json.loads(out.read_text())
    assert doc["plan_digest"] == reconcile.plan(Workspace(repo, "sandbox")).digest

    doc["changes"][0]["after"]["Name"] = "Slipped in after review"
    out.write_text(json.dumps(doc))
    refused = invoke(repo, "apply", "--yes", str(out))
    assert refused.exit_code == 1
    assert f"the saved plan {out} does not match its plan_digest" in refused.stderr
    assert "was edited" in refused.stderr
    assert not (repo / ".reconciler" / "sandbox" / "requests.jsonl").exists()

    del doc["plan_digest"]
    out.write_text(json.dumps(doc))
    refused = invoke(repo, "apply", "--yes", str(out))
    assert refused.exit_code == 1
    assert "carries no plan_digest" in refused.stderr


# --- apply --expect-digest against the sandbox ------------------------------------------------


def sandbox_requests(repo: Path) -> list[dict[str, Any]]:
    path = repo / ".reconciler" / "sandbox" / "requests.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_apply_refuses_another_digest_sending_nothing_then_applies_the_right_one(
    tmp_path: Path,
) -> None:
    repo = example_repo(tmp_path / "repo")
    digest = json.loads(invoke(repo, "plan", "--format", "json").stdout)["plan_digest"]

    refused = invoke(repo, "apply", "--yes", "--expect-digest", ZERO)
    assert refused.exit_code == 1
    assert "changed since it was reviewed" in refused.stderr
    assert ZERO in refused.stderr
    assert digest in refused.stderr
    assert re.search(r"Plan: \d+ to create, 0 to update", refused.stderr)
    assert sandbox_requests(repo) == []
    assert not (repo / ".reconciler" / "sandbox" / "ledger.json").exists()

    # The lock was released: the next apply runs, and the reviewed digest applies.
    applied = invoke(repo, "apply", "--yes", "--expect-digest", digest)
    assert applied.exit_code == 0, applied.output
    assert any(r.get("event_type") == "New" for r in sandbox_requests(repo))
    assert ledger_doc(repo, "sandbox")["records"]
    assert invoke(repo, "plan", "--detailed-exitcode").exit_code == 0


def test_apply_checks_the_digest_of_a_saved_plan_too(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    out = repo / "next.json"
    invoke(repo, "plan", "--out", str(out))
    digest = json.loads(out.read_text())["plan_digest"]
    assert invoke(repo, "apply", "--yes", "--expect-digest", ZERO, str(out)).exit_code == 1
    assert sandbox_requests(repo) == []
    assert invoke(repo, "apply", "--yes", "--expect-digest", digest, str(out)).exit_code == 0


def test_a_malformed_expected_digest_is_a_usage_error(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    result = invoke(repo, "apply", "--yes", "--expect-digest", "7fe91239")
    assert result.exit_code == 1
    assert "is not a plan digest: write sha256: and 64 lowercase hex digits" in result.output
    assert sandbox_requests(repo) == []

"""Policies stop what they must, end to end: `plan` and `apply` as subprocesses against
`reconciler sandbox serve`, `validate` on a bad expression (SPEC 2, 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_server import (
    ServedSandbox,
    example_repo,
    run_cli,
    served_sandbox,
    set_key,
    write_settings,
)

NORTHWIND = "2.16.840.1.113883.3.6147.458.24601.1"
UNROUTED = [f"{NORTHWIND}.{n}" for n in (1, 2, 3, 4)]  # every example org but the parent
ROUTES = {
    "name": "production-routes-inbound",
    "level": "hard",
    "environments": ["production"],
    "deny": 'change.kind == "organization" && change.action in ["create", "update"] '
    "&& (!has(change.after.DestinationID) || change.after.DestinationID == null)",
    "message": "Production records need a destination_id.",
}
SIGN_OFF = {
    "name": "deactivation-sign-off",
    "level": "soft",
    "approvers": ["alice", "@acme/directory-admins"],
    "deny": 'change.action == "deactivate"',
    "message": "Deactivating a listing needs sign-off by the directory admins.",
}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedSandbox]:
    with served_sandbox(tmp_path / "sandbox-data") as sandbox:
        yield sandbox


def endpoint_calls(served: ServedSandbox) -> list[dict[str, object]]:
    return [r for r in served.requests() if "/endpoint" in str(r.get("path", ""))]


def test_a_hard_policy_fails_the_plan_and_apply_refuses_sending_nothing(
    tmp_path: Path, served: ServedSandbox
) -> None:
    records = example_repo(tmp_path / "records")
    write_settings(
        records,
        policies=[ROUTES],
        environments={
            "production": {"provider_destination": "3f6b0c1e-8d2a-4c57-9e41-6a2b7d905c13"}
        },
    )
    planned = run_cli(records, "plan", "--env", "production", environ=served.environ())
    assert planned.returncode == 1
    block = planned.stdout.split("\nPolicies: ", 1)[1]
    assert block.startswith("1 of 1 violated.")
    assert "hard policy production-routes-inbound: 4 violations" in block
    for oid in UNROUTED:
        assert f"create organization {oid}: Production records need a destination_id." in block
    assert f"organization {NORTHWIND}:" not in block  # it has a destination_id
    assert planned.stdout.index("\nPolicies: ") < planned.stdout.index("Plan digest: ")
    assert "hard policies are violated (production-routes-inbound)" in planned.stderr

    as_json = run_cli(records, "plan", "--env", "production", "--format", "json")
    [policy] = json.loads(as_json.stdout)["policies"]
    assert policy["name"] == "production-routes-inbound"
    assert policy["level"] == "hard"
    assert policy["approvers"] == []
    assert [v["identity"] for v in policy["violations"]] == UNROUTED
    assert set(policy["violations"][0]) == {"key", "identity", "action", "message"}

    for _ in range(2):  # the lock is released: the second run is refused the same way
        applied = run_cli(
            records, "apply", "--env", "production", "--yes", environ=served.environ()
        )
        assert applied.returncode == 1
        assert "policies refuse this plan for production, so nothing was sent" in applied.stderr
        assert "production-routes-inbound" in applied.stderr
    assert endpoint_calls(served) == []
    assert not (records / "ledger" / "production.json").exists()
    # development has no such policy: its plan passes.
    assert run_cli(records, "plan", "--env", "development").returncode == 0


def test_a_soft_policy_passes_the_plan_and_apply_needs_the_override(
    tmp_path: Path, served: ServedSandbox
) -> None:
    records = example_repo(tmp_path / "records")
    write_settings(records, policies=[SIGN_OFF])
    environ = served.environ()
    first = run_cli(records, "apply", "--env", "development", "--yes", environ=environ)
    assert first.returncode == 0, first.stdout + first.stderr
    set_key(records / "orgs" / "rockford-family-medicine.yaml", "active", "false")
    rockford = f"{NORTHWIND}.2"

    planned = run_cli(records, "plan", "--env", "development", "--detailed-exitcode")
    assert planned.returncode == 2, planned.stderr
    assert "soft policy deactivation-sign-off: 1 violation" in planned.stdout
    assert (
        "Override: locally reconciler apply --override-policy deactivation-sign-off; in the "
        "sync, an approving review by alice or @acme/directory-admins." in planned.stdout
    )

    before = len(endpoint_calls(served))
    assert before > 0  # the first apply's calls are seen: the count below can move
    refused = run_cli(records, "apply", "--env", "development", "--yes", environ=environ)
    assert refused.returncode == 1
    assert f"deactivate organization {rockford}: Deactivating a listing" in refused.stderr
    assert len(endpoint_calls(served)) == before
    assert served.organizations()[rockford]["Active"] is True

    unknown = run_cli(
        records,
        "apply",
        "--env",
        "development",
        "--yes",
        "--override-policy",
        "sign-off",
        environ=environ,
    )
    assert unknown.returncode == 1
    assert "--override-policy names no policy of reconciler.yaml: 'sign-off'" in unknown.stderr

    overridden = run_cli(
        records,
        "apply",
        "--env",
        "development",
        "--yes",
        "--override-policy",
        "deactivation-sign-off",
        environ=environ,
    )
    assert overridden.returncode == 0, overridden.stdout + overridden.stderr
    assert "Soft policy deactivation-sign-off overridden (--override-policy)" in overridden.stderr
    assert served.organizations()[rockford]["Active"] is False


BAD = """\
policies:
  - name: fine
    level: advisory
    deny: change.action == "create"
    message: Fine.
  - name: broken
    level: hard
    deny: change.kind = "organization"
    message: Never compiles.
"""


def test_validate_reports_a_policy_that_does_not_compile_at_its_line(tmp_path: Path) -> None:
    records = example_repo(tmp_path / "records")
    settings = records / "reconciler.yaml"
    settings.write_text(settings.read_text() + BAD)
    line = settings.read_text().splitlines().index('    deny: change.kind = "organization"') + 1
    found = run_cli(records, "validate")
    assert found.returncode == 1
    assert f"reconciler.yaml:{line}: error: policy 'broken': deny is not valid CEL" in (
        found.stdout
    )
    github = run_cli(records, "validate", "--format", "github")
    assert f"::error file=reconciler.yaml,line={line}," in github.stdout
    planned = run_cli(records, "plan")
    assert planned.returncode == 1
    assert f"reconciler.yaml, line {line}: policy 'broken'" in planned.stderr

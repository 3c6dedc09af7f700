"""The risk: one merged pull request overwrites a live listing that the repository never held
(issue 20; SPEC 2, ownership). `reconciler sandbox serve` holds records created elsewhere
(`--preload`), the CLI applies as a subprocess over HTTP.

A Create answered "already exists" is adopted when the directory's record is as planned,
overwritten only when this tool sent that Create (its reply lost) or `--adopt-existing` says
so, and refused otherwise; `managing_org` forbids overwriting or importing another
organization's record whatever the flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from factories import organization_text
from sandbox_server import (
    ServedSandbox,
    desired_wire,
    ledger_doc,
    run_cli,
    served_sandbox,
    write_settings,
)

from reconciler import reconcile
from reconciler.reconcile.workspace import Workspace

ENV = "development"
ROOT = "2.16.840.1.113883.3.6147.458.31400"
PARENT, CLINIC = f"{ROOT}.1", f"{ROOT}.1.1"
X, X_CHILD = f"{ROOT}.2", f"{ROOT}.2.1"  # X: the OID the directory already holds
OTHERS = "Other Vendor Inc."


def make_repo(path: Path, **settings: Any) -> Path:
    """Two records the directory lacks (a parent and its clinic), and X, new in the files,
    with a child of its own."""
    orgs = path / "orgs"
    orgs.mkdir(parents=True)
    files = {
        "parent.yaml": organization_text(PARENT, "Northwind Health"),
        "clinic.yaml": organization_text(CLINIC, "Northwind Clinic", part_of=PARENT),
        "x.yaml": organization_text(X, "Lakeside Clinic"),
        "x-child.yaml": organization_text(X_CHILD, "Lakeside Annex", part_of=X),
    }
    for name, text in files.items():
        (orgs / name).write_text(text, encoding="utf-8")
    write_settings(
        path,
        api={"rate_limit": 200, "concurrency": 8, "timeout": 30},
        verify={"timeout": 5},
        **settings,
    )
    return path


def elsewhere(repo: Path, **changes: Any) -> dict[str, Any]:
    """X as the directory holds it when someone else created it: the file's record, changed."""
    return {**desired_wire(repo, ENV)["organization"][X], **changes}


def calls_about(served: ServedSandbox, oid: str) -> list[tuple[str, int]]:
    return [
        (e["event_type"], e["status"])
        for e in served.requests()
        if e["path"] == "/endpoint" and e["oid"] == oid
    ]


def apply(served: ServedSandbox, repo: Path, *flags: str) -> Any:
    return run_cli(repo, "apply", "--yes", "--env", ENV, *flags, environ=served.environ())


def test_a_record_created_elsewhere_is_refused_then_overwritten_with_adopt_existing(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo")
    by_hand = elsewhere(repo, Name="Lakeside Clinic (registered by hand)")
    with served_sandbox(tmp_path / "served", preload={"organizations": [by_hand]}) as served:
        done = apply(served, repo)

        assert done.returncode == 1, done.stdout + done.stderr
        out = done.stdout
        summary = "2 applied (0 already in the directory), 0 failed, 1 refused: created elsewhere"
        assert f"{summary}, 1 skipped." in out
        assert "Verified: 2 of 2." in out
        # Nothing was sent for X but its Create and the query; its child was never sent.
        assert calls_about(served, X) == [("New", 403), ("Query", 200)]
        assert calls_about(served, X_CHILD) == []
        assert served.organizations()[X] == by_hand
        want = desired_wire(repo, ENV)["organization"]
        held = served.organizations()
        assert {oid: held.get(oid) for oid in (PARENT, CLINIC)} == {
            oid: want[oid] for oid in (PARENT, CLINIC)
        }
        # The refusal names both ways forward, each a command that works, and the log ID.
        refused = next(line for line in out.splitlines() if "refused: created elsewhere:" in line)
        assert f"organization:{X} (orgs/x.yaml)" in refused
        assert "(Name)" in refused
        assert f"`reconciler import --env {ENV} --oid {X}`" in refused
        assert f"`reconciler apply --env {ENV} --adopt-existing`" in refused
        new_x = next(e for e in served.requests() if e["oid"] == X and e["event_type"] == "New")
        assert f"(Redox log ID: {new_x['log_id']})" in refused
        assert f"skipped: create organization:{X_CHILD}: a record it depends on failed" in out
        ledger = ledger_doc(repo, ENV)
        assert set(ledger["records"]) == {f"organization:{PARENT}", f"organization:{CLINIC}"}
        assert ledger["intents"] == {}

        again = apply(served, repo, "--adopt-existing")

        assert again.returncode == 0, again.stdout + again.stderr
        assert "Verified: 2 of 2." in again.stdout
        assert calls_about(served, X)[2:] == [
            ("New", 403),
            ("Query", 200),
            ("Update", 200),
            (
                "Query",
                200,
            ),
        ]
        assert served.organizations()[X] == want[X]
        assert served.organizations()[X_CHILD] == want[X_CHILD]
        assert set(ledger_doc(repo, ENV)["records"]) == {f"organization:{o}" for o in want}
        assert reconcile.plan(Workspace(repo=repo, env_name=ENV)).empty


def test_import_adopts_the_directorys_version_instead(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    by_hand = elsewhere(repo, Name="Lakeside Clinic (registered by hand)")
    with served_sandbox(tmp_path / "served", preload={"organizations": [by_hand]}) as served:
        assert apply(served, repo).returncode == 1
        imported = run_cli(repo, "import", "--env", ENV, "--oid", X, environ=served.environ())
        assert imported.returncode == 0, imported.stdout + imported.stderr

        done = apply(served, repo)

        # Now ledgered as the directory holds it: the plan updates it to the file.
        assert done.returncode == 0, done.stdout + done.stderr
        assert calls_about(served, X)[-2:] == [("Update", 200), ("Query", 200)]
        assert served.organizations()[X] == desired_wire(repo, ENV)["organization"][X]


def test_managing_org_forbids_overwriting_or_importing_another_organizations_record(
    tmp_path: Path,
) -> None:
    repo = make_repo(tmp_path / "repo", managing_org="Redox Health System")
    theirs = elsewhere(repo, Name="Lakeside Clinic (theirs)", ManagingOrg=OTHERS)
    with served_sandbox(tmp_path / "served", preload={"organizations": [theirs]}) as served:
        done = apply(served, repo, "--adopt-existing")

        assert done.returncode == 1, done.stdout + done.stderr
        assert calls_about(served, X) == [("New", 403), ("Query", 200)]
        refused = next(line for line in done.stdout.splitlines() if f"organization:{X}" in line)
        assert f"managed by {OTHERS!r} in the directory" in refused
        assert "managing_org" in refused
        assert "--adopt-existing`" not in refused  # no way forward that would be refused too
        assert served.organizations()[X]["Name"] == "Lakeside Clinic (theirs)"

        imported = run_cli(repo, "import", "--env", ENV, "--oid", X, environ=served.environ())

        assert imported.returncode == 1
        assert "never imported" in imported.stderr
        assert OTHERS in imported.stderr
        assert f"organization:{X}" not in ledger_doc(repo, ENV)["records"]
        # The records of the vendor's own managing_org are applied as usual.
        assert {f"organization:{PARENT}", f"organization:{CLINIC}"} <= set(
            ledger_doc(repo, ENV)["records"]
        )


@pytest.mark.parametrize("endpoints", [False, True], ids=["same", "same-but-endpoints"])
def test_the_same_record_is_adopted(tmp_path: Path, endpoints: bool) -> None:
    repo = make_repo(tmp_path / "repo")
    if endpoints:
        extra = "endpoints:\n  - name: Lakeside XCA\n    address: https://xca.example.org\n"
        (repo / "orgs" / "x.yaml").write_text(
            organization_text(X, "Lakeside Clinic", extra=extra), encoding="utf-8"
        )
    # What the directory holds matches every field a query returns (never Endpoints).
    same = {k: v for k, v in elsewhere(repo).items() if k != "Endpoints"}
    with served_sandbox(tmp_path / "served", preload={"organizations": [same]}) as served:
        done = apply(served, repo)

        assert done.returncode == 0, done.stdout + done.stderr
        assert "4 applied (1 already in the directory), 0 failed, 0 skipped." in done.stdout
        if endpoints:
            # One Update sends what a query cannot show; then it is read back.
            assert calls_about(served, X) == [
                ("New", 403),
                ("Query", 200),
                ("Update", 200),
                ("Query", 200),
            ]
            assert "Verified: 4 of 4." in done.stdout
        else:
            assert calls_about(served, X) == [("New", 403), ("Query", 200)]
            assert "Verified: 3 of 3." in done.stdout
        assert served.organizations()[X] == desired_wire(repo, ENV)["organization"][X]
        assert reconcile.plan(Workspace(repo=repo, env_name=ENV)).empty


def test_a_create_whose_reply_was_lost_is_resolved_in_the_same_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    # Every write is committed and its reply lost: each Create is retried, and answered
    # "already exists" by the directory holding this tool's own first attempt.
    with served_sandbox(tmp_path / "served", lose_reply_rate=1.0) as served:
        done = apply(served, repo)

        assert done.returncode == 0, done.stdout + done.stderr
        assert "4 applied (4 already in the directory), 0 failed, 0 skipped." in done.stdout
        for oid in (PARENT, CLINIC, X, X_CHILD):
            assert calls_about(served, oid) == [("New", 504), ("New", 403), ("Query", 200)]
        assert served.creations() == dict.fromkeys((PARENT, CLINIC, X, X_CHILD), 1)
        assert served.organizations() == desired_wire(repo, ENV)["organization"]
        assert ledger_doc(repo, ENV)["intents"] == {}

"""Issue 12's table of hostile inputs, each row and its neighbours (tests/hostile_cases.py):
every one gets a clear error naming the file, exit 1, no traceback, under 200 MB, from a real
subprocess of the CLI. Their times are printed by bench/hostile_input.py."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from factories import settle
from hostile import assert_no_bug, assert_refused, assert_sound, run
from hostile_cases import CASES, POSIX, SECRET_LINE, Case, prepared
from sandbox_server import (
    generated_repo,
    served_sandbox,
    start_cli,
    wait_for_holder,
    write_settings,
)

from reconciler.formats import atomic
from reconciler.reconcile.workspace import Workspace
from reconciler.redox.api import SANDBOX_PROVIDER_DESTINATION


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return prepared(tmp_path_factory.mktemp("pristine") / "repo")


def _copy(pristine: Path, tmp_path: Path) -> tuple[Path, Path]:
    repo = tmp_path / "repo"
    shutil.copytree(pristine, repo, symlinks=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    return repo, outside


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c.id, marks=[pytest.mark.posix] if c.posix else []) for c in CASES],
)
def test_a_hostile_input_gets_a_clear_error(case: Case, pristine: Path, tmp_path: Path) -> None:
    if case.posix and not POSIX:
        pytest.skip("needs FIFOs, sockets or symlinks")
    repo, outside = _copy(pristine, tmp_path)
    case.make(repo, outside)
    answer = run(repo, *case.command)
    if case.expect == 1:
        assert_refused(answer, *case.names)
    else:
        assert_sound(answer)
        assert answer.returncode == case.expect, answer.describe()
    assert SECRET_LINE not in answer.output


def test_the_private_key_behind_a_symlink_is_never_read(pristine: Path, tmp_path: Path) -> None:
    if not POSIX:
        pytest.skip("needs symlinks")
    repo, outside = _copy(pristine, tmp_path)
    case = next(c for c in CASES if c.id == "symlink-to-private-key")
    case.make(repo, outside)
    for args in (
        ("validate",),
        ("validate", "--format", "github"),
        ("validate", "--format", "json"),
        ("plan",),
    ):
        answer = run(repo, *args)
        assert_refused(answer, "orgs/k.yaml")
        assert "PRIVATE KEY" not in answer.output
        assert SECRET_LINE[:20] not in answer.output


def test_a_ledger_with_a_string_record_stops_plan_and_apply_unchanged(
    pristine: Path, tmp_path: Path
) -> None:
    repo, _outside = _copy(pristine, tmp_path)
    ws = Workspace(repo=repo, env_name="sandbox")
    settle(ws)
    path = ws.ledger_store.path
    doc = json.loads(path.read_text(encoding="utf-8"))
    record = sorted(doc["records"])[1]
    doc["records"][record] = "a string where a record belongs"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    before = path.read_bytes()
    shown = ws.environment.ledger
    for args in (("plan",), ("apply", "--yes"), ("apply", "--yes", "--refresh"), ("show",)):
        answer = run(repo, *args)
        assert_refused(answer, shown, record, f"git checkout -- {shown}")
    assert path.read_bytes() == before
    # Nothing reached the directory: the in-process sandbox journals every change it makes.
    assert not (ws.sandbox_dir / "directory.jsonl").exists()


def test_leftovers_of_a_killed_save_are_removed_by_the_next_apply(
    pristine: Path, tmp_path: Path
) -> None:
    repo, _outside = _copy(pristine, tmp_path)
    ledger = repo / Workspace(repo=repo, env_name="sandbox").environment.ledger
    ledger.parent.mkdir(parents=True, exist_ok=True)
    # What `atomic_write` leaves when killed between its mkstemp and its rename.
    leftovers = [
        ledger.parent / f".{ledger.name}.{tag}{atomic.TEMP_SUFFIX}" for tag in ("k9x2", "a_b")
    ]
    for path in leftovers:
        path.write_text('{"version": 1, "half": ')
    unrelated = [ledger.parent / f".{ledger.name}.notes", ledger.parent / f"{ledger.name}.x.tmp"]
    for path in unrelated:
        path.write_text("keep")

    planned = run(repo, "plan")  # reads only: removes nothing
    assert planned.returncode == 0, planned.describe()
    assert all(p.exists() for p in leftovers)

    applied = run(repo, "apply", "--yes")
    assert_sound(applied)
    assert applied.returncode == 0, applied.describe()
    assert not any(p.exists() for p in leftovers)
    assert all(p.read_text() == "keep" for p in unrelated)
    assert ".sandbox" not in applied.stdout
    assert not list(ledger.parent.glob(f".{ledger.name}.*{atomic.TEMP_SUFFIX}"))


SHARED = "ledger/shared.json"
ROOT = "2.16.840.1.113883.3.6147.458.31339"


def test_two_environments_sharing_one_ledger_file_cannot_apply_together(tmp_path: Path) -> None:
    repo = generated_repo(tmp_path / "repo", children=60, root=ROOT)
    destination = "a07afe3b-d247-4415-827f-6837707e1b8b"  # the development one the sandbox serves
    write_settings(
        repo,
        environments={
            name: {
                "ledger": SHARED if name == "blue" else f"./{SHARED}",  # one file, two spellings
                "organization_destination": destination,
                "provider_destination": SANDBOX_PROVIDER_DESTINATION,
            }
            for name in ("blue", "green")
        },
    )
    locks = {
        Workspace(repo=repo, env_name=name).ledger_store.lock_path for name in ("blue", "green")
    }
    assert len(locks) == 1  # one file, one lock, whatever the names
    with served_sandbox(tmp_path / "served", latency=0.1) as served:
        first = start_cli(
            repo,
            *("apply", "--yes", "--env", "blue", "--concurrency", "1"),
            environ=served.environ(),
            log=tmp_path / "first.log",
        )
        try:
            wait_for_holder(locks.pop(), first)
            second = run(repo, "apply", "--yes", "--env", "green", environ=served.environ())
            assert_refused(second, f"pid {first.pid}", f"host {socket.gethostname()}")
            assert first.poll() is None  # the holder was still at work
        finally:
            first.wait(timeout=120)
        assert first.returncode == 0, (tmp_path / "first.log").read_text()
        # Each record was created once: the second environment sent nothing.
        creations = served.creations()
        assert creations
        assert set(creations.values()) == {1}
        assert len(creations) == 61
    assert_no_bug((tmp_path / "first.log").read_text())

"""One apply at a time per ledger: a second apply fails at once, naming the holder; a lock left
by a killed apply does not block the next one."""

from __future__ import annotations

import json
import signal
import socket
from pathlib import Path

import pytest
from sandbox_server import (
    desired_wire,
    generated_repo,
    ledger_doc,
    run_cli,
    served_sandbox,
    start_cli,
    wait_for_holder,
)

from reconciler import reconcile
from reconciler.ledger import lock as ledger_lock
from reconciler.reconcile.workspace import Workspace

pytestmark = pytest.mark.posix  # SIGKILL

ENV = "development"
ROOT = "2.16.840.1.113883.3.6147.458.31338"
HOLD_LIMIT = 60.0  # a guard against an apply that never takes the lock, not a measurement


def test_a_second_apply_fails_at_once_and_a_killed_holder_blocks_nobody(tmp_path: Path) -> None:
    repo = generated_repo(tmp_path / "repo", children=99, root=ROOT)
    lock = Workspace(repo=repo, env_name=ENV).ledger_store.lock_path
    # 0.1 s per call, one at a time: the first apply runs for about ten seconds.
    with served_sandbox(tmp_path / "served", latency=0.1) as served:
        first = start_cli(
            repo,
            *("apply", "--yes", "--env", ENV, "--concurrency", "1"),
            environ=served.environ(),
            log=tmp_path / "first.log",
        )
        try:
            holder = wait_for_holder(lock, first)

            second = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())

            # It failed without waiting for the holder, which is still at work.
            assert first.poll() is None
            assert second.returncode == 1
            message = second.stderr
            assert f"host {socket.gethostname()}" in message
            assert f"pid {first.pid}" in message
            assert f"started {holder['started']}" in message
            assert str(lock) in message
            assert "Traceback" not in message
            tokens = [e for e in served.requests() if e["path"] == "/v2/auth/token"]
            assert len(tokens) == 1, "the second apply talked to Redox"

            first.send_signal(signal.SIGKILL)
            first.wait()
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
        # The killed holder's record is still in the file; the OS lock went with the process.
        holder_file = ledger_lock.holder_file(lock)
        assert json.loads(holder_file.read_text(encoding="utf-8"))["pid"] == first.pid

        third = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())

        assert third.returncode == 0, third.stdout + third.stderr
        want = desired_wire(repo, ENV)["organization"]
        assert served.organizations() == want
        assert {oid: served.creations().get(oid) for oid in want} == dict.fromkeys(want, 1)
    assert ledger_doc(repo, ENV)["intents"] == {}
    assert reconcile.plan(Workspace(repo=repo, env_name=ENV)).empty
    assert holder_file.read_text(encoding="utf-8") == ""  # released on a normal exit
    # The third apply recognised the killed holder's record as stale, and said so.
    assert f"pid {first.pid}" in third.stderr
    assert "ended without releasing it" in third.stderr


def test_a_saved_plan_applied_while_another_apply_runs_names_the_running_one(
    tmp_path: Path,
) -> None:
    # The running apply's journal moves the ledger's serial on under its lock: the saved plan
    # is refused because that apply is running, not "because another apply ran since".
    repo = generated_repo(tmp_path / "repo", children=60, root=ROOT)
    saved = tmp_path / "plan.json"
    lock = Workspace(repo=repo, env_name=ENV).ledger_store.lock_path
    with served_sandbox(tmp_path / "served", latency=0.1) as served:
        first = start_cli(
            repo,
            *("apply", "--yes", "--env", ENV, "--concurrency", "1"),
            environ=served.environ(),
            log=tmp_path / "first.log",
        )
        try:
            wait_for_holder(lock, first)
            planned = run_cli(repo, "plan", "--env", ENV, "--out", str(saved))
            assert planned.returncode == 0, planned.stderr
            second = run_cli(repo, "apply", "--yes", "--env", ENV, str(saved))
            assert first.poll() is None, "the first apply ended before the check was made"
        finally:
            first.kill()
            first.wait()
    assert second.returncode == 1
    assert f"pid {first.pid}" in second.stderr
    assert "ran since" not in second.stderr + second.stdout

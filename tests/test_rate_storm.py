"""The client under a 429 storm and short-lived tokens, through the real CLI against
`reconciler sandbox serve` (SPEC 2: a 429 slows the client down for the rest of the run).

A server that allows a fifth of `api.rate_limit`: one apply converges with exit 0, and drift
(the same client, queries only) completes. Tokens that live 1 s never fail a call.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sandbox_server import (
    ServedSandbox,
    desired_wire,
    generated_repo,
    ledger_doc,
    run_cli,
    served_sandbox,
)

ENV = "development"


def assert_converged(served: ServedSandbox, repo: Path, records: int) -> None:
    want = desired_wire(repo, ENV)["organization"]
    assert len(want) == records
    assert served.organizations() == want
    creations = served.creations()
    assert {oid: creations.get(oid) for oid in want} == dict.fromkeys(want, 1)
    ledger = ledger_doc(repo, ENV)
    assert len(ledger["records"]) == records
    assert ledger["intents"] == {}


@pytest.mark.slow
def test_one_apply_and_a_drift_converge_against_a_server_at_a_fifth_of_the_rate(
    tmp_path: Path,
) -> None:
    records = 100
    repo = generated_repo(
        tmp_path / "repo",
        children=records - 1,
        root="2.16.840.1.113883.3.6147.458.45000",
        rate_limit=25,
        concurrency=8,
    )
    with served_sandbox(tmp_path / "served", rate_limit=5, latency=0.005) as served:
        done = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        assert f"Apply complete: {records} applied" in done.stdout
        assert "0 failed, 0 skipped." in done.stdout
        assert_converged(served, repo, records)

        drift = run_cli(repo, "drift", "--env", ENV, environ=served.environ())
        assert drift.returncode == 0, drift.stdout + drift.stderr[-3000:]
        assert f"all {records} ledgered records match" in drift.stdout

        log = [e for e in served.requests() if e["path"] == "/endpoint"]
    throttled = [e for e in log if e["status"] == 429]
    assert throttled, "the server never pushed back: the test proved nothing"
    # Slowing down keeps the 429s few: without it, 25/s against 5/s is mostly 429s.
    assert len(throttled) < len(log) / 4, f"{len(throttled)} of {len(log)} calls drew a 429"


@pytest.mark.slow
def test_tokens_that_live_one_second_never_fail_a_drift(tmp_path: Path) -> None:
    records = 40
    repo = generated_repo(
        tmp_path / "repo",
        children=records - 1,
        root="2.16.840.1.113883.3.6147.458.45001",
        rate_limit=200,
        concurrency=8,
    )
    # 0.3 s per call, eight at a time: each run outlives several tokens.
    with served_sandbox(tmp_path / "served", token_lifetime=1, latency=0.3) as served:
        done = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        for _ in range(4):
            drift = run_cli(repo, "drift", "--env", ENV, environ=served.environ())
            assert drift.returncode == 0, drift.stdout + drift.stderr[-3000:]
        assert_converged(served, repo, records)
        tokens = [e for e in served.requests() if e["path"].endswith("/token")]
    assert len(tokens) > 5, "tokens must have expired during the runs"

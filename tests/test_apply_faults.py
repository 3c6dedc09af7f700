"""apply through faults: `reconciler sandbox serve` on 127.0.0.1 injects them, a real CLI
subprocess (`--env development`, the served credential) applies. Each fault must end converged
in ONE run, exit 0: the directory equals the files, no OID was created twice, no intent is left,
and a following plan is empty."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sandbox_server import (
    ServedSandbox,
    assert_valid_requests,
    desired_wire,
    generated_repo,
    ledger_doc,
    run_cli,
    served_sandbox,
    set_key,
)

ROOT = "2.16.840.1.113883.3.6147.458.31337"
CHILDREN = 39
ENV = "development"


def assert_converged(served: ServedSandbox, repo: Path) -> None:
    """The directory holds exactly the files' records, each created once; the ledger has them
    all and no intent; a plan is empty."""
    want = desired_wire(repo, ENV)["organization"]
    assert served.organizations() == want
    creations = served.creations()
    assert {oid: creations.get(oid) for oid in want} == dict.fromkeys(want, 1)
    ledger = ledger_doc(repo, ENV)
    assert set(ledger["records"]) == {f"organization:{oid}" for oid in want}
    assert ledger["intents"] == {}
    done = run_cli(repo, "plan", "--env", ENV, "--detailed-exitcode", environ=served.environ())
    assert done.returncode == 0, done.stdout + done.stderr


def apply_once(served: ServedSandbox, repo: Path, *extra: str) -> None:
    done = run_cli(repo, "apply", "--yes", "--env", ENV, *extra, environ=served.environ())
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert "0 failed, 0 skipped." in done.stdout


FAULTS: dict[str, tuple[dict[str, Any], tuple[str, ...], str]] = {
    # name: (sandbox serve flags, extra apply flags, the outcome that shows the fault happened)
    "reply lost after commit": ({"lose_reply_rate": 0.3, "seed": 7}, (), "reply_lost"),
    "429 storm": ({"rate_limit": 10, "retry_after": 0.2}, (), "rate_limited"),
    "5xx bursts": ({"error_rate": 0.3, "seed": 11}, (), "injected_error"),
    # Tokens live 1 s; with 0.1 s per call and two in flight the run outlives several tokens.
    "token expires mid-apply": (
        {"token_lifetime": 1, "latency": 0.1},
        ("--concurrency", "2"),
        "",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_apply_converges_in_one_run_through(fault: str, tmp_path: Path) -> None:
    flags, extra, outcome = FAULTS[fault]
    # The client may send at 200/s: far above a 429 storm's 10/s, so the server must push back.
    repo = generated_repo(tmp_path / "repo", children=CHILDREN, root=ROOT, rate_limit=200)
    with served_sandbox(tmp_path / "served", **flags) as served:
        # Creates, then updates and deactivations, each in a single run.
        apply_once(served, repo, *extra)
        assert_converged(served, repo)
        for n in range(1, 11):
            set_key(repo / "orgs" / f"clinic-{n:04d}.yaml", "city", "Middleton")
        for n in range(11, 14):
            set_key(repo / "orgs" / f"clinic-{n:04d}.yaml", "active", "false")
        apply_once(served, repo, *extra)
        assert_converged(served, repo)

        log = served.requests()
    endpoint = [e for e in log if e["path"] == "/endpoint"]
    assert_valid_requests([e["body"] for e in endpoint])
    if outcome:
        assert any(e["outcome"] == outcome for e in endpoint), f"no {outcome}: the fault never hit"
    else:
        issued = [e for e in log if e["path"] == "/v2/auth/token" and e["status"] == 200]
        assert len(issued) >= 2, "one token lasted the whole run: nothing expired mid-apply"

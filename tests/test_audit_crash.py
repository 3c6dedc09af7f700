"""Crash safety of the audit trail: a real process appending line after line (tests/audit_driver.py,
each line longer than a page, so that its write can be cut between pages) is SIGKILLed at random
instants, over and over, on the same trail.

After each kill the trail holds every line whose append returned, and at most one more; read
back (`lines`), it is a sound chain with no line cut short. On disk, a line may be cut only
where the redo record of its append says what it is. Once settled (`prepare`, as the next append
or the sync's commit does), the file itself holds whole lines only and no record is left. Every
other trial leaves the settling to the next trial's process, which may be killed while doing it.
"""

from __future__ import annotations

import json
import random
import select
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sandbox_server import clean_environ

from reconciler.audit.verify import check_chain
from reconciler.reconcile.workspace import Workspace

pytestmark = [pytest.mark.posix, pytest.mark.slow]  # SIGKILL; tens of seconds

ENV = "development"
TRIALS = 30
CALLS = 60  # per line: about 8 KB
SEED = 20261207
DRIVER = Path(__file__).resolve().parent / "audit_driver.py"


def _kill_while_appending(repo: Path, rnd: random.Random) -> list[int]:
    """Start the driver, let it append for a random while, SIGKILL it; the seqs it reported."""
    process = subprocess.Popen(
        [sys.executable, str(DRIVER), str(repo), ENV, "100000", str(CALLS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=clean_environ(),
    )
    assert process.stdout is not None
    try:
        # Once the first line is out the process is appending: from then on any instant will do.
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the driver wrote nothing in 60 s"
        time.sleep(rnd.uniform(0, 0.3))
        process.send_signal(signal.SIGKILL)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL, err.decode(errors="replace")
    return [int(seq) for seq in out.split()]


def _on_disk(ws: Workspace) -> str:
    """What the file holds: `whole` lines only, or a line the redo record completes (`none`,
    `part` or `all` of it written)."""
    data = ws.audit_path.read_bytes()
    if not ws.audit_pending_path.exists():
        assert data.endswith(b"\n"), "a line cut short with no redo record"
        return "whole"
    record = json.loads(ws.audit_pending_path.read_text("utf-8"))
    line = record["line"].encode("utf-8")
    tail = data[record["offset"] :]
    if tail == line or tail.startswith(line):
        return "all"
    assert line.startswith(tail), "the file's end is not the start of the recorded line"
    assert data[: record["offset"]].endswith(b"\n") or record["offset"] == 0
    return "none" if not tail else "part"


def test_kill_9_at_any_instant_of_an_append_leaves_whole_lines(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    ws = Workspace(repo=repo, env_name=ENV)
    rnd = random.Random(SEED)
    seen: Counter[str] = Counter()
    returned = 0
    for trial in range(TRIALS):
        reported = _kill_while_appending(repo, rnd)
        assert reported, f"trial {trial}: killed before any append returned"
        assert reported == list(range(returned + 1, returned + 1 + len(reported)))
        returned = reported[-1]
        seen[_on_disk(ws)] += 1

        trail = ws.audit_trail()
        count, _last, bad, _notes, _seen = check_chain(trail.lines(), environment=ENV)
        assert bad is None, f"trial {trial}: {bad}"
        assert returned <= count <= returned + 1, (trial, returned, count)
        if trial % 2 == 0:  # else the next trial's process settles it, and may be killed doing so
            with ws.ledger_store.lock("test"):
                tail = trail.prepare()
            assert tail.seq == count
            assert ws.audit_path.read_bytes().count(b"\n") == count
            assert ws.audit_path.read_bytes().endswith(b"\n")
            assert not ws.audit_pending_path.exists()
        returned = count  # the next process continues after the line it finds

    print(f"after {TRIALS} kills the file held: {dict(seen)}")
    with ws.ledger_store.lock("test"):
        final = ws.audit_trail().prepare()
    count, _last, bad, _notes, _seen = check_chain(ws.audit_trail().lines(), environment=ENV)
    assert (bad, count) == (None, final.seq)

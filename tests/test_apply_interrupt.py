"""Interruption (SPEC 2): SIGINT or SIGTERM during an apply stops it truthfully; a second signal
exits at once; Ctrl-C at the confirmation prompt exits at once with nothing sent.

The signal tests run `reconciler apply` as a real subprocess against `reconciler sandbox serve`
with latency, signal it at a random instant of its run (seeded), and check that the summary's
counts are the ledger's and that the next apply converges with each record created once. The
use-case tests drive `reconcile.apply` with the in-process sandbox and set the stop themselves.
"""

from __future__ import annotations

import asyncio
import os
import pty
import random
import re
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from factories import Repo, organization
from sandbox_server import (
    ServedSandbox,
    clean_environ,
    cli_args,
    example_repo,
    generated_repo,
    ledger_doc,
    run_cli,
    served_sandbox,
)

from reconciler import reconcile
from reconciler.reconcile.session import session
from reconciler.reconcile.workspace import Workspace
from reconciler.redox.api import RedoxApi
from reconciler.render import apply_summary, render_applied

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and pty")

ENV = "development"
RECORDS = 60
SEED = 20260612
SUMMARY = re.compile(
    r"^Interrupted: (?P<applied>\d+) applied \((?P<adopted>\d+) already in the directory\), "
    r"(?P<failed>\d+) failed, (?P<skipped>\d+) skipped, (?P<not_started>\d+) not started, "
    r"(?P<in_flight>\d+) in flight when stopped; (?P<intents>\d+) intents? left for the next "
    r"apply to settle\. Took [0-9.ms]+\.$",
    re.MULTILINE,
)

READ_BACK = re.compile(
    r"^Verified: (?P<verified>\d+) of (?P<of>\d+) before the apply was interrupted", re.MULTILINE
)


def _root(n: int) -> str:
    return f"2.16.840.1.113883.3.6147.458.{43000 + n}"


@dataclass
class Stopped:
    returncode: int
    stdout: str
    stderr: str
    waited: float  # seconds from the last signal to the exit


def _apply_and_signal(
    served: ServedSandbox, repo: Path, signals: list[signal.Signals], *, delay: float, gap: float
) -> Stopped:
    """Start an apply; once its first call has landed, wait `delay`, then send `signals`
    `gap` seconds apart."""
    process = subprocess.Popen(
        cli_args(repo, "apply", "--yes", "--env", ENV),
        cwd=repo,
        env=served.environ(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    seen = []
    try:
        while True:  # the first call has landed when its log line comes
            line = process.stderr.readline()
            assert line, f"the apply ended before its first call: {''.join(seen)}"
            seen.append(line)
            if line.startswith("applied: "):
                break
        time.sleep(delay)
        for n, signum in enumerate(signals):
            if n:
                time.sleep(gap)
            process.send_signal(signum)
        sent_at = time.monotonic()
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return Stopped(process.returncode, out, "".join(seen) + err, time.monotonic() - sent_at)


def _assert_counts_match_the_ledger(stopped: Stopped, repo: Path) -> dict[str, int]:
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    match = SUMMARY.search(stopped.stdout)
    assert match, stopped.stdout[-2000:]
    counts = {k: int(v) for k, v in match.groupdict().items()}
    ledger = ledger_doc(repo, ENV)
    # A fresh repository: the ledger holds exactly what this run applied, and the intents of
    # the calls whose outcome it does not know.
    assert counts["applied"] == len(ledger["records"])
    assert counts["intents"] == len(ledger["intents"])
    every = ("applied", "failed", "skipped", "not_started", "in_flight")
    assert sum(counts[k] for k in every) == RECORDS
    assert counts["failed"] == counts["skipped"] == 0
    # What it did not see in the directory is left unverified, and it says how much: all it
    # applied when stopped while sending, the rest of it when stopped while reading back.
    unverified = [k for k, r in ledger["records"].items() if r.get("unverified")]
    read = READ_BACK.search(stopped.stdout)
    if read is None:
        assert "Not verified: the apply was interrupted, so nothing was read back" in (
            stopped.stdout
        )
        assert len(unverified) == counts["applied"]
    else:
        assert int(read["of"]) == counts["applied"]
        assert len(unverified) == counts["applied"] - int(read["verified"])
    return counts


def _assert_next_apply_converges(served: ServedSandbox, repo: Path) -> None:
    again = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())
    assert again.returncode == 0, again.stdout + again.stderr
    ledger = ledger_doc(repo, ENV)
    assert len(ledger["records"]) == RECORDS
    assert ledger["intents"] == {}
    assert reconcile.plan(Workspace(repo=repo, env_name=ENV)).empty
    creations = served.creations()
    oids = [key.split(":", 1)[1] for key in ledger["records"]]
    assert {oid: creations.get(oid) for oid in oids} == dict.fromkeys(oids, 1)
    # What the interrupted run applied is still unverified until `verify` reads it back.
    verified = run_cli(repo, "verify", "--env", ENV, environ=served.environ())
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert not any(r.get("unverified") for r in ledger_doc(repo, ENV)["records"].values())


@pytest.fixture
def served(tmp_path: Path) -> Any:
    # 0.2 s per call at concurrency 4: a 60-record apply lasts about 3 s, long enough to stop.
    with served_sandbox(tmp_path / "served", latency=0.2) as server:
        yield server


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_apply_stops_it_truthfully_and_the_next_run_converges(
    served: ServedSandbox, tmp_path: Path, signum: signal.Signals
) -> None:
    rng = random.Random(f"{SEED}-{signum.name}")
    repo = generated_repo(
        tmp_path / "repo", children=RECORDS - 1, root=_root(signum), concurrency=4
    )
    stopped = _apply_and_signal(served, repo, [signum], delay=rng.uniform(0.3, 1.5), gap=0)

    counts = _assert_counts_match_the_ledger(stopped, repo)
    assert counts["not_started"] > 0, "the signal came too late to prove anything"
    assert "stopping. No new call starts" in stopped.stderr
    _assert_next_apply_converges(served, repo)


@pytest.mark.slow
def test_signals_at_random_instants_always_leave_a_truthful_summary(
    served: ServedSandbox, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    for trial in range(8):
        signum = rng.choice([signal.SIGINT, signal.SIGTERM])
        repo = generated_repo(
            tmp_path / f"trial-{trial}", children=RECORDS - 1, root=_root(10 + trial), concurrency=4
        )
        stopped = _apply_and_signal(served, repo, [signum], delay=rng.uniform(0, 3.5), gap=0)
        if stopped.returncode == 0:  # the run had ended before the signal: nothing to check
            assert "Apply complete: 60 applied" in stopped.stdout
        else:
            _assert_counts_match_the_ledger(stopped, repo)
        _assert_next_apply_converges(served, repo)


def test_a_second_signal_exits_at_once_and_the_next_run_settles_what_was_in_flight(
    tmp_path: Path,
) -> None:
    data = tmp_path / "served"
    # Calls take 3 s, so the second Ctrl-C comes while calls are in flight.
    with served_sandbox(data, latency=3.0) as served:
        repo = generated_repo(
            tmp_path / "repo", children=RECORDS - 1, root=_root(30), concurrency=4
        )
        stopped = _apply_and_signal(
            served, repo, [signal.SIGINT, signal.SIGINT], delay=0.2, gap=0.3
        )
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "Interrupted again: exiting at once" in stopped.stderr
    assert stopped.waited < 2.5, "it waited for the calls in flight (3 s each)"
    # What the run made durable: the ledger file and the changes it journaled since.
    durable = Workspace(repo=repo, env_name=ENV).ledger()
    assert durable.intents, "the calls in flight must be left as intents"
    # The same directory, served again without the latency, for the next run.
    with served_sandbox(data) as served:
        _assert_next_apply_converges(served, repo)


# -- the confirmation prompt, on a pseudo-terminal ------------------------------------------


def _read_until(fd: int, marker: bytes, seconds: float) -> bytes:
    shown = b""
    deadline = time.monotonic() + seconds
    while marker not in shown and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            shown += chunk
    return shown


# A child that makes the pseudo-terminal on its stdin its controlling terminal (so that Ctrl-C
# typed there is SIGINT to it), then becomes the CLI.
_ON_A_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def test_ctrl_c_at_the_prompt_exits_at_once_and_releases_the_lock(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _ON_A_TERMINAL, *cli_args(repo, "apply")[1:]],
            cwd=repo,
            env=clean_environ(),
            stdin=follower,
            stdout=follower,
            stderr=follower,
            start_new_session=True,
        )
        os.close(follower)
        follower = -1
        try:
            shown = _read_until(leader, b"Only 'yes' is accepted", 60)
            assert b"Only 'yes' is accepted" in shown, shown[-2000:]
            # A person presses Ctrl-C while the prompt waits. (CPython's input() loses a SIGINT
            # that comes in the microseconds between writing its prompt and starting to read:
            # it looks for signals only when a read is interrupted.)
            time.sleep(0.5)
            typed_at = time.monotonic()
            os.write(leader, b"\x03")  # Ctrl-C: the terminal sends SIGINT to the CLI
            # Keep reading the terminal while waiting, so the CLI can never block writing.
            while process.poll() is None and time.monotonic() - typed_at < 30:
                shown += _read_until(leader, b"\x00", 0.05)
            exited_after = time.monotonic() - typed_at
            assert process.poll() is not None, f"still running 30 s after Ctrl-C: {shown[-3000:]!r}"
            shown += _read_until(leader, b"nothing was sent", 1)
            returncode = process.returncode
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert returncode == 130, shown[-2000:]
    assert exited_after < 1.0
    assert b"Interrupted: nothing was sent." in shown
    assert not (repo / ".reconciler" / "sandbox" / "requests.jsonl").exists()
    # The lock was released: the next apply is not refused.
    after = run_cli(repo, "apply", "--yes")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "Apply complete: 7 applied" in after.stdout


# -- the use case, with the stop set by the test --------------------------------------------


def _apply(ws: Workspace, *, stop_after: int | None, api_wrapper: Any = None) -> Any:
    async def run() -> reconcile.Applied:
        stop = asyncio.Event()
        seen = 0

        def progress(outcome: Any) -> None:
            nonlocal seen
            seen += 1
            if stop_after is not None and seen >= stop_after:
                stop.set()

        if stop_after == 0:
            stop.set()
        async with session(ws, {}, lock="apply") as api:
            wrapped = api_wrapper(api, stop) if api_wrapper else api
            return await reconcile.apply(ws, wrapped, progress=progress, concurrency=4, stop=stop)

    return asyncio.run(run())


def test_a_stop_before_the_run_sends_nothing(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    ws = Workspace(repo=repo, env_name="sandbox")
    applied = _apply(ws, stop_after=0)
    assert applied.status == "interrupted"
    assert not applied.ok
    assert not (repo / ".reconciler" / "sandbox" / "requests.jsonl").exists()
    assert not ws.ledger_store.path.exists() or ledger_doc(repo, "sandbox")["intents"] == {}


def test_a_stop_part_way_reports_what_the_ledger_holds(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    ws = Workspace(repo=repo, env_name="sandbox")
    applied = _apply(ws, stop_after=2)
    result = applied.result
    assert applied.status == "interrupted"
    ledger = ledger_doc(repo, "sandbox")
    assert result.count("applied") == len(ledger["records"]) >= 2
    assert result.count("not_started") > 0
    assert result.intents_left == len(ledger["intents"]) == 0
    assert apply_summary(result).startswith("Interrupted: ")
    assert result.verification is not None
    assert result.verification.state == "stopped"
    assert result.verification.left == result.count("applied")
    assert ws.ledger().unverified() == sorted(ledger["records"])
    again = _apply(ws, stop_after=None)
    assert again.status == "applied"
    assert again.ok
    assert reconcile.plan(ws).empty


class _StopWhenReadingBack:
    """The real API; the first query (the read-back: no record here exists yet to settle)
    comes with a stop."""

    def __init__(self, api: RedoxApi, stop: asyncio.Event) -> None:
        self.api = api
        self.stop = stop

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        if body["Meta"]["EventType"] == "Query":
            self.stop.set()
            await asyncio.sleep(0.05)
        return await self.api.send(body)


def test_a_stop_while_reading_back_leaves_what_was_not_seen_unverified(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    ws = Workspace(repo=repo, env_name="sandbox")

    applied = _apply(ws, stop_after=None, api_wrapper=_StopWhenReadingBack)

    result = applied.result
    assert applied.status == "interrupted"
    assert result.count("applied") == 7
    assert result.count("not_started") == 0
    verification = result.verification
    assert verification is not None
    assert verification.state == "stopped"
    assert verification.left == 7 - verification.verified
    assert len(ws.ledger().unverified()) == verification.left > 0
    text = render_applied(applied)
    assert f"{verification.left} records it changed are left unverified" in text
    assert "`reconciler verify --env sandbox` reads them back." in text


class _Stuck:
    """The real API, except that one record's create never gets an answer."""

    def __init__(self, api: RedoxApi, stop: asyncio.Event, identity: str) -> None:
        self.api = api
        self.stop = stop
        self.identity = identity

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        records = body.get("Organizations") or []
        if records and records[0]["Identifiers"][0]["ID"] == self.identity:
            self.stop.set()  # stopped while this call hangs
            await asyncio.Event().wait()
        return await self.api.send(body)


def test_a_call_still_in_flight_after_the_grace_is_left_as_an_intent(tmp_path: Path) -> None:
    repo = example_repo(tmp_path / "repo")
    (repo / "reconciler.yaml").write_text(
        (repo / "reconciler.yaml")
        .read_text(encoding="utf-8")
        .replace("timeout: 30", "timeout: 0.2"),
        encoding="utf-8",
    )
    ws = Workspace(repo=repo, env_name="sandbox")
    assert ws.settings.file.api.timeout == 0.2
    stuck = "2.16.840.1.113883.3.6147.458.24601.1.2"
    applied = _apply(ws, stop_after=None, api_wrapper=lambda api, stop: _Stuck(api, stop, stuck))
    result = applied.result
    assert applied.status == "interrupted"
    assert [o.key for o in result.outcomes if o.status == "in_flight"] == [f"organization:{stuck}"]
    ledger = ledger_doc(repo, "sandbox")
    assert list(ledger["intents"]) == [f"organization:{stuck}"]
    assert result.intents_left == 1
    assert "1 in flight when stopped; 1 intent left" in apply_summary(result)
    # The next run settles the intent (the call never reached the sandbox) and converges.
    again = _apply(ws, stop_after=None)
    assert again.status == "applied"
    assert again.ok
    assert [o.status for o in again.result.outcomes if o.key.endswith(stuck)] == [
        "dropped",
        "applied",
    ]
    assert reconcile.plan(ws).empty


class _StopOnFirstCall:
    """The real API; the first call sets `stop` (the signal arrives while it is in flight)."""

    def __init__(self, api: RedoxApi, stop: asyncio.Event) -> None:
        self.api = api
        self.stop = stop

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        self.stop.set()
        return await self.api.send(body)


def test_records_below_a_parent_the_stop_kept_back_are_not_started_not_skipped(
    tmp_path: Path,
) -> None:
    # Two top records, each with two children, one call at a time: the first parent's call is
    # in flight when the stop comes, the second parent waits for its turn and never starts.
    made = Repo(tmp_path / "repo")
    for top in (1, 2):
        parent = organization(top)
        made.org(f"top-{top}", parent)
        for child in (1, 2):
            made.org(f"top-{top}-{child}", organization(child, parent=parent["oid"]))

    async def run() -> reconcile.Applied:
        stop = asyncio.Event()
        ws = made.workspace()
        async with session(ws, {}, lock="apply") as api:
            wrapped = _StopOnFirstCall(api, stop)
            return await reconcile.apply(ws, wrapped, concurrency=1, stop=stop)

    applied = asyncio.run(run())
    result = applied.result
    assert applied.status == "interrupted"
    assert result.count("applied") == 1
    assert result.count("skipped") == 0, [o for o in result.outcomes if o.status == "skipped"]
    assert result.count("not_started") == 5
    summary = apply_summary(result)
    assert "0 skipped, 5 not started" in summary, summary

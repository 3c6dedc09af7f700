"""Crash safety: what a crashed apply leaves (an intent: the call may or may not have landed) is
settled by the next run; and `reconciler apply` SIGKILLed at random instants, then run again.

For the random kills, one `reconciler sandbox serve` (5 ms latency per call) serves every
trial; each trial applies a fresh 200-record repository (1 parent, 199 children) under its own
OIDs. After each trial's
rerun the directory equals the files, no OID was created twice, the ledger holds every record
and no intent, a plan is empty, and `verify` finds every record as applied (verification is on:
what a killed run applied stays unverified until then).

What an apply has made durable is the ledger file plus its journal (reconciler.ledger.journal): the
ledger file is rewritten from the journal now and then and at the end (compaction). The
compaction trials kill the apply, and the rerun that replays its journal, while the ledger file
is being rewritten: their ledger holds many more records, so that a rewrite takes a while.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from factories import organization_text
from sandbox_server import (
    ServedSandbox,
    cli_args,
    desired_wire,
    example_repo,
    generated_repo,
    ledger_doc,
    run_cli,
    served_sandbox,
    set_key,
)

from reconciler import reconcile
from reconciler.formats import atomic
from reconciler.ledger import file as ledger_file
from reconciler.ledger import model as ledgers
from reconciler.reconcile.workspace import Workspace

pytestmark = pytest.mark.posix  # SIGKILL

ENV = "development"
CHILDREN = 199
TRIALS = 12
SEED = 20260611
# Every fourth trial also kills the first rerun: a crash while resolving a crash's intents.
TWICE_EVERY = 4


@dataclass
class Killed:
    """What one SIGKILL left behind."""

    finished: bool  # the apply had already exited when the signal was due
    records: int  # records in the ledger on disk
    intents: int  # intents in the ledger on disk


def _root(trial: int) -> str:
    return f"2.16.840.1.113883.3.6147.458.{40000 + trial}"


def _apply_args(repo: Path) -> list[str]:
    return cli_args(repo, "apply", "--yes", "--env", ENV)


def _kill_apply(
    served: ServedSandbox, repo: Path, wait: Callable[[subprocess.Popen[bytes]], None]
) -> bool:
    """Start `reconciler apply`, let `wait` return at the instant to kill it, SIGKILL it then;
    whether it had already exited (with success) by that instant."""
    log = repo / "killed-apply.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            _apply_args(repo),
            cwd=repo,
            env=served.environ(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait(process)
        finished = process.poll() is not None
        if not finished:
            process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    if finished:
        assert process.returncode == 0, log.read_text()
    return finished


def _run_and_kill(served: ServedSandbox, repo: Path, delay: float) -> Killed:
    finished = _kill_apply(served, repo, lambda process: time.sleep(delay))
    # What the run made durable: the ledger file and the changes journaled since it was written.
    durable = Workspace(repo=repo, env_name=ENV).ledger()
    return Killed(finished, len(durable.records), len(durable.intents))


def _assert_settled(
    served: ServedSandbox, repo: Path, trial: int, since: int, *, kept: frozenset[str] = frozenset()
) -> None:
    want = desired_wire(repo, ENV)["organization"]
    assert len(want) == CHILDREN + 1
    # No call that landed was repeated: one New per record, whichever run sent it (a repeat
    # would show as a New refused with "already exists").
    news: dict[str, list[int]] = {}
    for entry in served.logged_since(since):
        if entry["event_type"] == "New":
            news.setdefault(str(entry["oid"]), []).append(entry["status"])
    assert news == {oid: [200] for oid in want}, f"trial {trial}: New sent other than once"
    held = served.organizations()
    assert {oid: held.get(oid) for oid in want} == want, f"trial {trial}: directory differs"
    creations = served.creations()
    twice = {oid: n for oid in want if (n := creations.get(oid, 0)) != 1}
    assert not twice, f"trial {trial}: OIDs not created exactly once: {twice}"
    ledger = ledger_doc(repo, ENV)
    assert set(ledger["records"]) == {f"organization:{oid}" for oid in want} | kept
    assert ledger["intents"] == {}, f"trial {trial}: intents left {list(ledger['intents'])}"
    ws = Workspace(repo=repo, env_name=ENV)
    assert not ws.ledger_store.journal_path.exists(), (
        f"trial {trial}: the journal outlived a finished run"
    )
    # No killed write left its temporary file in any folder the tool writes (the ledger's, the
    # journal's, the audit trail's, the cache's): the rerun removed them under its lock.
    left = sorted(
        str(p.relative_to(repo))
        for p in repo.rglob(f"*{atomic.TEMP_SUFFIX}")
        if ".git" not in p.relative_to(repo).parts
    )
    assert left == [], f"trial {trial}: temporary files outlived the rerun: {left}"
    assert reconcile.plan(ws).empty
    # Verification is on: the rerun read back what it sent, and what a killed run applied
    # without reading it back is marked unverified until `verify` sees it.
    checked = run_cli(repo, "verify", "--env", ENV, environ=served.environ())
    assert checked.returncode == 0, f"trial {trial}: {checked.stdout}{checked.stderr[-3000:]}"
    marked = [k for k, r in ledger_doc(repo, ENV)["records"].items() if r.get("unverified")]
    assert marked == [], f"trial {trial}: still unverified: {marked}"


@pytest.mark.slow
def test_apply_killed_at_random_instants_converges_on_the_next_run(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    with served_sandbox(tmp_path / "served", latency=0.005) as served:
        # Trial 0 runs undisturbed: it checks the baseline and measures how long a run takes
        # to send its last call (after it, the run reads back what it sent: a kill there loses
        # nothing but the read-back, which `verify` makes up for; the calls are the point).
        repo = generated_repo(tmp_path / "trial-00", children=CHILDREN, root=_root(0))
        since = served.log_size()
        started = time.time()
        done = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())
        assert done.returncode == 0, done.stdout + done.stderr
        sent = [e["time"] for e in served.logged_since(since) if e["event_type"] == "New"]
        expected = max(sent) - started
        _assert_settled(served, repo, 0, since)

        kills: list[Killed] = []
        for trial in range(1, TRIALS + 1):
            repo = generated_repo(
                tmp_path / f"trial-{trial:02d}", children=CHILDREN, root=_root(trial)
            )
            since = served.log_size()
            kills.append(_run_and_kill(served, repo, rng.uniform(0, expected)))
            if trial % TWICE_EVERY == 0:
                kills.append(_run_and_kill(served, repo, rng.uniform(0, expected)))
            rerun = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())
            assert rerun.returncode == 0, f"trial {trial}: {rerun.stdout}{rerun.stderr[-3000:]}"
            _assert_settled(served, repo, trial, since)

    # The trials must have hit the interesting instants, or they proved nothing.
    mid_run = [k for k in kills if not k.finished and 0 < k.records < CHILDREN + 1]
    with_intents = [k for k in kills if not k.finished and k.intents]
    assert len(mid_run) >= 5, kills
    assert with_intents, kills


# -- kills while the ledger file is being rewritten ----------------------------------------

COMPACTION_TRIALS = 4
# Records of retired organizations (inactive, their files long gone) that every compaction
# rewrites: enough that a rewrite takes a good fraction of a second.
KEPT = 20_000


def _retired(repo: Path, trial: int) -> frozenset[str]:
    """Give the repository's ledger KEPT retired records; their keys."""
    ws = Workspace(repo=repo, env_name=ENV)
    records = {}
    for n in range(KEPT):
        oid = f"2.16.840.1.113883.3.6147.458.{50000 + trial}.{n}"
        records[f"organization:{oid}"] = ledgers.make_entry(
            kind="organization",
            identity=oid,
            envelope={"Directory": "Carequality"},
            payload={"Name": f"Retired {n}", "Active": False, "Identifiers": [{"ID": oid}]},
            active=False,
            source=f"orgs/retired-{n}.yaml",
            commit=None,
        )
    ledger_file.save(ws.ledger_store.path, replace(ledgers.Ledger.new(ENV), records=records))
    return frozenset(records)


@dataclass
class Compaction:
    """Where one kill aimed at a compaction landed."""

    finished: bool  # the process had exited before a rewrite began or before the signal
    writing: bool  # the new ledger file was being written (its temporary file is left)
    between: bool  # the ledger file was rewritten, the journal not yet restarted or removed


def _rewriting(ledger_path: Path) -> bool:
    """A new ledger file is being written (atomic.atomic_write's temporary file)."""
    return any(ledger_path.parent.glob(f".{ledger_path.name}.*.tmp"))


def _kill_while_compacting(
    served: ServedSandbox, repo: Path, rng: random.Random, *, within: float
) -> Compaction:
    """Run apply and SIGKILL it at a random instant of the first ledger rewrite it makes."""
    ws = Workspace(repo=repo, env_name=ENV)

    def wait(process: subprocess.Popen[bytes]) -> None:
        while process.poll() is None and not _rewriting(ws.ledger_store.path):
            time.sleep(0.001)
        time.sleep(rng.uniform(0, within))

    finished = _kill_apply(served, repo, wait)
    writing = _rewriting(ws.ledger_store.path)
    between = False
    if ws.ledger_store.journal_path.exists() and ws.ledger_store.path.exists():
        lines = ws.ledger_store.journal_path.read_text(encoding="utf-8").splitlines()
        head = json.loads(lines[0]) if lines else {}
        between = head.get("serial") == ledger_doc(repo, ENV)["serial"] - 1
    return Compaction(finished, writing, between)


@pytest.mark.slow
def test_apply_killed_while_rewriting_the_ledger_converges_on_the_next_run(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED + 1)
    with served_sandbox(tmp_path / "served", latency=0.005) as served:
        # How long one rewrite of such a ledger takes here: the kills aim within it.
        probe = generated_repo(tmp_path / "probe", children=1, root=_root(99))
        _retired(probe, 99)
        # Timed as apply makes it: the ledger loaded for writing (its records keep the file's
        # bytes), then saved. (Loaded for reading, each record would open the file again.)
        path = Workspace(repo=probe, env_name=ENV).ledger_store.path
        # The fastest of five: on a loaded machine (tests run on every core) one timing can
        # be several times the rewrite the kill will meet, and the kill would land after it.
        timings = []
        for _ in range(5):
            loaded = ledger_file.load(path, ENV)
            started = time.monotonic()
            ledger_file.save(path, loaded)
            timings.append(time.monotonic() - started)
        rewrite = min(timings)

        kills: list[Compaction] = []
        aim = rewrite

        def kill(repo: Path) -> None:
            # A kill that came too late (the rewrite was over) halves the window for the next
            # one: on a loaded machine the rewrite is seen late and the sleep runs long.
            nonlocal aim
            kills.append(_kill_while_compacting(served, repo, rng, within=aim))
            if not kills[-1].writing:
                aim /= 2

        for trial in range(1, COMPACTION_TRIALS + 1):
            repo = generated_repo(
                tmp_path / f"compaction-{trial:02d}", children=CHILDREN, root=_root(60 + trial)
            )
            kept = _retired(repo, trial)
            since = served.log_size()
            kill(repo)
            if trial % 2 == 0:
                # The rerun first writes the journal of the killed run into the ledger file:
                # kill that rewrite too.
                kill(repo)
            rerun = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())
            assert rerun.returncode == 0, f"trial {trial}: {rerun.stdout}{rerun.stderr[-3000:]}"
            _assert_settled(served, repo, trial, since, kept=kept)

    # The kills must have landed in the rewrites, or they proved nothing.
    assert sum(k.writing for k in kills) >= COMPACTION_TRIALS // 2, (rewrite, aim, kills)


# -- an intent left by a crash, settled by the next run -------------------------------------

EXAMPLE_CLINIC = "2.16.840.1.113883.3.6147.458.24601.1.2"
NEW_CLINIC = "2.16.840.1.113883.3.6147.458.24601.1.9"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[ServedSandbox]:
    with served_sandbox(tmp_path / "served") as server:
        yield server


@pytest.fixture
def repo(tmp_path: Path, served: ServedSandbox) -> Path:
    """The example repository, applied once to the served sandbox."""
    path = example_repo(tmp_path / "repo")
    done = run_cli(path, "apply", "--yes", "--env", ENV, environ=served.environ())
    assert done.returncode == 0, done.stdout + done.stderr
    return path


def leave_intent(repo: Path, identity: str) -> dict[str, Any]:
    """Leave the ledger as an apply killed right after recording the intent of `identity`'s
    planned change leaves it; returns the payload that call would have sent."""
    ws = Workspace(repo=repo, env_name=ENV)
    change = next(c for c in reconcile.plan(ws).changes if c.identity == identity)
    intent = ledgers.Intent(
        kind=change.kind,
        identity=change.identity,
        action=change.action.value,
        envelope=change.envelope,
        payload=change.after,
        source=change.source,
        started_at=ledgers.now(),
    )
    ledger_file.save(ws.ledger_store.path, ws.ledger().with_intent(change.key, intent))
    return change.after


def calls_since(served: ServedSandbox, start: int) -> list[tuple[str, str]]:
    return [
        (e["event_type"], e["oid"]) for e in served.requests()[start:] if e["path"] == "/endpoint"
    ]


def rerun(served: ServedSandbox, repo: Path) -> subprocess.CompletedProcess[str]:
    done = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "interrupted apply" in done.stderr
    assert ledger_doc(repo, ENV)["intents"] == {}
    assert reconcile.plan(Workspace(repo=repo, env_name=ENV)).empty
    assert served.organizations() == desired_wire(repo, ENV)["organization"]
    return done


def test_an_update_that_landed_before_the_crash_is_not_repeated(
    served: ServedSandbox, repo: Path
) -> None:
    set_key(repo / "orgs" / "rockford-family-medicine.yaml", "city", "Loves Park")
    landed = leave_intent(repo, EXAMPLE_CLINIC)
    served.put_organization(landed)  # the call reached the directory; its reply did not return
    start = len(served.requests())

    rerun(served, repo)

    assert calls_since(served, start) == [("Query", EXAMPLE_CLINIC)]


def test_an_update_that_never_left_is_sent(served: ServedSandbox, repo: Path) -> None:
    set_key(repo / "orgs" / "rockford-family-medicine.yaml", "city", "Loves Park")
    leave_intent(repo, EXAMPLE_CLINIC)
    start = len(served.requests())

    rerun(served, repo)

    # Settled by a query, sent, then read back.
    assert calls_since(served, start) == [
        ("Query", EXAMPLE_CLINIC),
        ("Update", EXAMPLE_CLINIC),
        ("Query", EXAMPLE_CLINIC),
    ]


def test_a_create_that_landed_is_not_repeated_and_one_that_did_not_is_sent(
    served: ServedSandbox, repo: Path, tmp_path: Path
) -> None:
    text = organization_text(NEW_CLINIC, "Northwind Verona Clinic", part_of=EXAMPLE_CLINIC[:-2])
    (repo / "orgs" / "verona.yaml").write_text(text, encoding="utf-8")
    leave_intent(repo, NEW_CLINIC)
    start = len(served.requests())

    rerun(served, repo)

    assert calls_since(served, start) == [
        ("Query", NEW_CLINIC),
        ("New", NEW_CLINIC),
        ("Query", NEW_CLINIC),
    ]
    assert served.creations()[NEW_CLINIC] == 1

    other = NEW_CLINIC[:-1] + "8"
    (repo / "orgs" / "sun-prairie.yaml").write_text(
        organization_text(other, "Northwind Sun Prairie Clinic", part_of=EXAMPLE_CLINIC[:-2]),
        encoding="utf-8",
    )
    served.put_organization(leave_intent(repo, other))
    start = len(served.requests())

    rerun(served, repo)

    assert calls_since(served, start) == [("Query", other)]


def test_an_update_of_fields_a_query_cannot_show_is_sent_again(
    served: ServedSandbox, repo: Path
) -> None:
    # Endpoints never come back in a query: a query cannot tell whether this update landed.
    endpoint = "endpoints:\n  - name: Northwind XCA\n    address: https://xca.example.org/{}\n"
    (repo / "orgs" / "xca.yaml").write_text(
        organization_text(NEW_CLINIC, "Northwind XCA Gateway", extra=endpoint.format("v1")),
        encoding="utf-8",
    )
    assert run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ()).returncode == 0
    (repo / "orgs" / "xca.yaml").write_text(
        organization_text(NEW_CLINIC, "Northwind XCA Gateway", extra=endpoint.format("v2")),
        encoding="utf-8",
    )
    leave_intent(repo, NEW_CLINIC)
    start = len(served.requests())

    rerun(served, repo)

    assert calls_since(served, start) == [
        ("Query", NEW_CLINIC),
        ("Update", NEW_CLINIC),
        ("Query", NEW_CLINIC),
    ]
    held = served.organizations()[NEW_CLINIC]["Endpoints"][0]["Address"]
    assert held == "https://xca.example.org/v2"

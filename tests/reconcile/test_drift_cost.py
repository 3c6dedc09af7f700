"""Polite drift (SPEC 2, "Drift cost"): `drift --rotate K` checks today's part, 1/K of the
records, and drift, `--refresh` and import use at most `drift.rate_share` of `api.rate_limit`.
Checked against the request log of `reconciler sandbox serve`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sandbox_server import (
    ServedSandbox,
    generated_repo,
    run_cli,
    served_sandbox,
    write_settings,
)
from virtual_time import VirtualTime

from reconciler import reconcile
from reconciler.engine.lookup import Paced
from reconciler.errors import SettingsError
from reconciler.reconcile.session import session
from reconciler.reconcile.workspace import Workspace
from reconciler.records.settings import load_settings
from reconciler.views.drift import Part

ENV = "development"
ROOT = "2.16.840.1.113883.3.6147.458.71000"


def utc_day() -> int:
    return (datetime.now(UTC).date() - datetime(1970, 1, 1, tzinfo=UTC).date()).days


def queries(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in entries if e["path"] == "/endpoint" and e["event_type"] == "Query"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedSandbox]:
    with served_sandbox(tmp_path_factory.mktemp("served")) as server:
        yield server


def applied_repo(served: ServedSandbox, path: Path, *, records: int, root: str) -> Path:
    repo = generated_repo(path, children=records - 1, root=root)
    done = run_cli(repo, "apply", "--yes", "--env", ENV, environ=served.environ())
    assert done.returncode == 0, done.stdout + done.stderr
    return repo


def test_drift_rotate_3_on_60_records_queries_todays_third_and_says_which(
    served: ServedSandbox, tmp_path: Path
) -> None:
    repo = applied_repo(served, tmp_path / "repo", records=60, root=ROOT)
    since = served.log_size()
    day = utc_day()

    done = run_cli(
        repo, "drift", "--rotate", "3", "--env", ENV, "--format", "json", environ=served.environ()
    )

    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    queried = sorted(str(e["oid"]) for e in queries(served.logged_since(since)))
    # About a third, and exactly the records the report says it checked.
    assert 10 <= len(queried) <= 30, queried
    assert report["checked"] == len(queried)
    assert (report["ledgered"], report["parts"]) == (60, 3)
    assert report["part"] in {day % 3 + 1, (day + 1) % 3 + 1}  # midnight may pass meanwhile
    part = Part(report["part"] - 1, 3)
    everyone = [ROOT, *(f"{ROOT}.{n}" for n in range(1, 60))]
    assert queried == sorted(oid for oid in everyone if part.holds(oid))

    text = run_cli(repo, "drift", "--rotate", "3", "--env", ENV, environ=served.environ())
    assert text.returncode == 0, text.stdout + text.stderr
    assert f"Checked part {report['part']} of 3" in text.stdout
    assert f"{len(queried)} of the 60 ledgered records" in text.stdout
    assert f"No drift: all {len(queried)} checked records match the directory." in text.stdout


def test_drift_rotate_setting_and_three_days_check_every_record_once(tmp_path: Path) -> None:
    repo = generated_repo(tmp_path / "repo", children=29, root=ROOT)
    write_settings(repo, drift={"rotate": 3})
    done = run_cli(repo, "apply", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    ws = Workspace(repo=repo, env_name="sandbox")
    log = ws.sandbox_dir / "requests.jsonl"

    def checked_on(day: int) -> list[str]:
        start = len(log.read_text(encoding="utf-8").splitlines())

        async def run() -> reconcile.DriftReport:
            async with session(ws, {}) as api:
                return await reconcile.drift(ws, api, concurrency=4, day=day)

        report = asyncio.run(run())
        lines = log.read_text(encoding="utf-8").splitlines()[start:]
        oids = [str(e["oid"]) for e in queries([json.loads(line) for line in lines])]
        assert (report.part, report.checked, report.ledgered) == (
            Part(day % 3, 3),
            len(oids),
            30,
        )
        return oids

    days = [checked_on(day) for day in (20_000, 20_001, 20_002)]
    every = [oid for oids in days for oid in oids]
    assert sorted(every) == sorted({ROOT, *(f"{ROOT}.{n}" for n in range(1, 30))})
    assert all(days)  # each day checks some: 30 records hashed into 3 parts
    assert checked_on(20_003) == days[0]  # the cycle repeats


SPAN_TOLERANCE = 0.75  # of the paced span, as the server sees arrivals (see below)


def test_drift_refresh_and_import_keep_to_their_share_of_the_rate(
    served: ServedSandbox, tmp_path: Path
) -> None:
    repo = applied_repo(served, tmp_path / "repo", records=12, root=f"{ROOT}.900")
    # 20 requests/s for apply, a quarter of it for lookups: 5/s, one every 0.2 s.
    write_settings(repo, api={"rate_limit": 20}, drift={"rate_share": 0.25})
    dev = ("--env", ENV)

    def spent(*args: str, code: int = 0) -> list[float]:
        since = served.log_size()
        done = run_cli(repo, *args, *dev, environ=served.environ())
        assert done.returncode == code, done.stdout + done.stderr
        return sorted(e["time"] for e in queries(served.logged_since(since)))

    for times in (
        spent("drift"),
        spent("plan", "--refresh"),
        spent("apply", "--refresh", "--yes"),
    ):
        assert len(times) == 12
        # 5/s on average; in any one second, at most two more: a request can arrive late
        # (the first one waits for the token) and bunch up with the next ones. The times are
        # the server's, of arrival: on a loaded machine (a parallel test run) the first
        # arrivals are delayed more than the last, which shortens the span the client spaced
        # them over. A client that did not pace would send all twelve within milliseconds.
        assert times[-1] - times[0] >= 11 / 5 * SPAN_TOLERANCE, times
        busiest = max(sum(1 for t in times if start <= t < start + 1) for start in times)
        assert busiest <= 5 + 2, times

    # import: every record of the files that the ledger lacks.
    Workspace(repo=repo, env_name=ENV).ledger_store.path.unlink()
    times = spent("import", "--from-files")
    assert len(times) == 12
    assert times[-1] - times[0] >= 11 / 5 * SPAN_TOLERANCE, times


def test_paced_lookups_are_evenly_spaced_at_the_rate() -> None:
    clock = VirtualTime()
    sent: list[float] = []

    class Api:
        async def send(self, body: dict[str, Any]) -> dict[str, Any]:
            sent.append(clock.now)
            return {}

    paced = Paced(Api(), 4.0, clock=clock.clock, sleep=clock.sleep)

    async def burst() -> None:
        await asyncio.gather(*(paced.send({}) for _ in range(9)))

    clock.run(burst())
    assert sent == [n * 0.25 for n in range(9)]


def test_drift_settings_default_and_are_checked(repo: Any) -> None:
    drift = load_settings(repo().root).file.drift
    assert (drift.rotate, drift.rate_share) == (1, 0.5)
    for text, expected in (
        ("drift:\n  rotate: 0\n", "line 2"),
        ("drift:\n  rate_share: 1.5\n", "line 2"),
        ("drift:\n  rate_share: 0\n", "line 2"),
        ("drift:\n  every: 3\n", "every"),
    ):
        with pytest.raises(SettingsError, match=expected):
            load_settings(repo(settings=text).root)

"""How close `reconciler apply` gets to the configured rate limit against a slow, strict server.

Run: `.venv/bin/python bench/apply_throughput.py [--records 1000] [--rate 100] [--latency 0.05]
[--concurrency 16] [--serial-records N]`

It serves the sandbox (`reconciler sandbox serve`) with `--latency L --rate-limit R` on
127.0.0.1 and, each against a fresh server and a fresh repository of N organizations (all
under the Redox gateway, so none waits for another):

- apply: `reconciler apply --yes --env development` with `api.rate_limit: R` and
  `api.concurrency: C` in reconciler.yaml;
- one at a time: the same with `--concurrency 1`, for comparison.

Measured from the sandbox's request log (requests.jsonl): calls/s between the first and the
last call, the share of R that is, the 429s the server sent; failures from the apply's summary.
Target: at least 90% of R, no 429, no failure.

With `--ledger-sizes 0,10000,100000` it measures instead how the cost of a call depends on the
size of the ledger (`ledger_scale`): a repository of --updates organizations, applied once,
whose ledger then also holds L retired records (inactive, their files long gone), and whose
files are all edited; then `apply` sends --updates Updates at `api.rate_limit: R` to a server
that allows R. For each L: the apply's CPU seconds, the CPU per call beyond what a run with
nothing to send costs on the same repository (the marginal cost of a call), the wall time of
the calls (first to last request in the server's log) and from the first call to the exit
(the ledger file is rewritten at the end), each against the rate floor of updates / R.
Targets (issue 16): <= 10 ms CPU per call at 100k, calls <= 1.1x the floor.

`--storm` measures a 429 storm instead: the server allows R/5 requests/s while the client is
configured for R (api.rate_limit), `--storm-records` organizations (default 200). Reported:
calls/s against the server's limit, the 429s, failures and exit code. Target: exit 0, no
failure (the client halves its rate on each 429 and creeps back up).

`--verify-cost` measures what reading back costs (issue 20): `--verify-records` organizations
(default 200) applied twice, each time to a fresh server and repository at `api.rate_limit: R`
(default 25 in this mode) with latency L: once with `--no-verify`, once with verification on.
The two alternate, `--repeat` times each (default 3), so that a busy machine slows both alike.
The server sends no 429 unless `--server-rate` says so: a 429 halves the client's rate for a
while (AIMD), which adds to either run at random, whatever verification does.
Reported: each run's time from start to exit, its writes and queries, and the time from its
last write to its exit; the goal on <= off x 1.1 + queries / R over the medians (the read-back
costs no more than the queries it sends), and the medians of last write to exit.

Run: `.venv/bin/python bench/apply_throughput.py --verify-cost [--rate 25] [--latency 0.05]
[--verify-records 200] [--repeat 3]`

The ledger-size scenario applies with `--no-verify`: it measures the cost of a call against
the size of the ledger, not the read-back (which `--verify-cost` measures).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from peak_rss import measured  # the peak RSS of the command alone

GATEWAY = "2.16.840.1.113883.3.6147.458.2"
SANDBOX_PROVIDER_DESTINATION = "3f6b0c1e-8d2a-4c57-9e41-6a2b7d905c13"
READY = "Sandbox serving on "

ORG = """oid: {oid}
name: Benchmark Clinic {n}
type: Implementer
part_of: {gateway}
contacts:
  - purpose: Technical
    name: Interop Team
    email_addresses: [interop@example.org]
    phone_number: {{work: "+16085550100"}}
address:
  street_address: {n} Main St
  city: Madison
  state: WI
  zip: "53703"
  country: USA
"""

SETTINGS = """api:
  rate_limit: {rate}
  concurrency: {concurrency}
  timeout: 60
"""


@dataclass
class Row:
    name: str
    records: int
    concurrency: int
    wall: float
    calls: int
    rate_limited: int
    rate: float
    failures: int
    exit_code: int


def clean_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDOX_")}
    env.update(extra or {})
    return env


def make_repo(path: Path, *, records: int, arc: int, rate: float, concurrency: int) -> Path:
    orgs = path / "orgs"
    orgs.mkdir(parents=True)
    for n in range(1, records + 1):
        oid = f"2.16.840.1.113883.3.6147.458.{arc}.{n}"
        (orgs / f"clinic-{n:05d}.yaml").write_text(
            ORG.format(oid=oid, n=n, gateway=GATEWAY), encoding="utf-8"
        )
    (path / "reconciler.yaml").write_text(
        SETTINGS.format(rate=rate, concurrency=concurrency), encoding="utf-8"
    )
    return path


def serve(
    data: Path, *, latency: float, rate: float | None
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """`sandbox serve` with `latency` per reply and, unless `rate` is None, 429 above it."""
    data.mkdir(parents=True)
    log = data / "serve.log"
    args = [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0"]
    args += ["--data", str(data), "--latency", str(latency)]
    args += ["--rate-limit", str(rate)] if rate is not None else []
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, cwd=data, env=clean_environ(), stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(line.startswith(READY) for line in log.read_text().splitlines()):
            break
        if process.poll() is not None:
            raise SystemExit(f"sandbox serve exited: {log.read_text()}")
        time.sleep(0.02)
    else:
        process.kill()
        raise SystemExit("sandbox serve did not start")
    credentials = {}
    for row in (data / "credentials.env").read_text().splitlines():
        name, _, value = row.partition("=")
        credentials[name] = value
    return process, credentials


def measure(
    name: str,
    work: Path,
    *,
    records: int,
    arc: int,
    rate: float,
    latency: float,
    concurrency: int,
    server_rate: float | None = None,  # the server's limit, when not `rate` (the 429 storm)
) -> Row:
    repo = make_repo(
        work / f"repo-{arc}", records=records, arc=arc, rate=rate, concurrency=concurrency
    )
    data = work / f"sandbox-{arc}"
    server, credentials = serve(data, latency=latency, rate=server_rate or rate)
    try:
        started = time.monotonic()
        done = subprocess.run(
            [
                *(sys.executable, "-m", "reconciler", "--repo", str(repo), "apply", "--yes"),
                *("--env", "development", "--concurrency", str(concurrency)),
            ],
            cwd=repo,
            env=clean_environ(credentials),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    log = [json.loads(line) for line in (data / "requests.jsonl").read_text().splitlines()]
    calls = [e for e in log if e["path"] == "/endpoint"]
    limited = sum(1 for e in calls if e["status"] == 429)
    accepted = sorted(e["time"] for e in calls if e["status"] != 429)
    span = accepted[-1] - accepted[0] if len(accepted) > 1 else 0.0
    achieved = (len(accepted) - 1) / span if span > 0 else 0.0
    summary = re.search(r"(\d+) failed, (\d+) skipped", done.stdout)
    failures = int(summary.group(1)) + int(summary.group(2)) if summary else records
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
    return Row(
        name, records, concurrency, wall, len(calls), limited, achieved, failures, done.returncode
    )


RETIRE = """
import json, sys
from dataclasses import replace
from pathlib import Path
from reconciler.ledger import file as ledger_file, model as ledgers
path, count, gateway = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
book = ledger_file.load(path, "development")
records = dict(book.records)
for n in range(count):
    oid = f"2.16.840.1.113883.3.6147.458.69000.{n}"
    payload = {
        "Active": False, "Identifiers": [{"ID": oid, "IDType": "OID"}],
        "Name": f"Retired Clinic {n}", "PartOf": {"Identifier": {"Value": gateway}},
        "Address": {"City": "Madison", "Country": "USA", "State": "WI", "ZIP": "53703",
                    "StreetAddress": f"{n} Old Mill Rd"},
        "Contacts": [{"Name": "Interop Team", "Purpose": "Technical",
                      "EmailAddresses": ["interop@example.org"]}],
        "Type": {"Value": "Implementer"},
    }
    records[f"organization:{oid}"] = ledgers.make_entry(
        kind="organization", identity=oid, envelope={"Directory": "Carequality"},
        payload=payload, active=False, source=f"orgs/retired-{n}.yaml", commit=None,
    )
ledger_file.save(path, replace(book, records=records))
"""


@dataclass
class LedgerRow:
    ledger: int
    calls: int
    cpu: float  # the apply's user + system seconds
    idle_cpu: float  # the same apply with nothing to send
    wall: float
    span: float  # first to last call, in the server's log
    to_exit: float  # first call to the apply's exit
    peak_mb: float
    exit_code: int


def _timed(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float, float, int]:
    """CPU seconds, wall seconds, peak RSS (MB) and exit code of one process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        usage = measured(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        if usage.returncode != 0:
            out.seek(0)
            err.seek(0)
            sys.stderr.write(
                out.read().decode(errors="replace")[-2000:]
                + err.read().decode(errors="replace")[-2000:]
            )
    return usage.cpu, usage.wall, usage.peak / 2**20, usage.returncode


def ledger_scale(
    work: Path,
    *,
    ledger: int,
    updates: int,
    rate: float,
    latency: float,
    concurrency: int,
    arc: int,
) -> LedgerRow:
    """One row of the ledger-size scenario (see the module's docstring)."""
    repo = make_repo(
        work / f"repo-{arc}", records=updates, arc=arc, rate=rate, concurrency=concurrency
    )
    data = work / f"sandbox-{arc}"
    server, credentials = serve(data, latency=latency, rate=rate)
    env = clean_environ(credentials)
    apply = [sys.executable, "-m", "reconciler", "--repo", str(repo), "apply", "--yes"]
    apply += ["--env", "development"]
    try:
        setup = subprocess.run(apply, cwd=repo, env=env, capture_output=True, text=True)
        if setup.returncode != 0:
            raise SystemExit(f"setup apply failed: {setup.stdout[-2000:]}{setup.stderr[-2000:]}")
        ledger_path = repo / "ledger" / "development.json"
        subprocess.run(
            [sys.executable, "-c", RETIRE, str(ledger_path), str(ledger), GATEWAY], check=True
        )
        for path in (repo / "orgs").glob("*.yaml"):
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("city: Madison", "city: Verona"), encoding="utf-8")
        mark = len((data / "requests.jsonl").read_text().splitlines())
        apply.append("--no-verify")  # the cost of the calls alone: --verify-cost measures reads
        cpu, wall, peak, code = _timed(apply, cwd=repo, env=env)
        exited = time.time()
        idle_cpu, _, _, _ = _timed(apply, cwd=repo, env=env)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    log = [json.loads(line) for line in (data / "requests.jsonl").read_text().splitlines()[mark:]]
    times = sorted(e["time"] for e in log if e["path"] == "/endpoint" and e["status"] != 429)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    to_exit = exited - times[0] if times else 0.0
    return LedgerRow(ledger, len(times), cpu, idle_cpu, wall, span, to_exit, peak, code)


def print_ledger_scale(rows: list[LedgerRow], *, updates: int, rate: float) -> None:
    floor = updates / rate
    print(f"{updates} Updates at R = {rate:g}/s: rate floor {floor:.1f} s")
    header = (
        f"{'ledger':>7} {'calls':>5} {'CPU s':>6} {'idle s':>6} {'ms/call':>7} {'wall s':>6} "
        f"{'calls s':>7} {'x floor':>7} {'to exit':>7} {'x floor':>7} {'peak MB':>7} {'exit':>4}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        per_call = (r.cpu - r.idle_cpu) / r.calls * 1000 if r.calls else 0.0
        print(
            f"{r.ledger:>7} {r.calls:>5} {r.cpu:>6.2f} {r.idle_cpu:>6.2f} {per_call:>7.1f} "
            f"{r.wall:>6.1f} {r.span:>7.2f} {r.span / floor:>7.2f} {r.to_exit:>7.2f} "
            f"{r.to_exit / floor:>7.2f} {r.peak_mb:>7.0f} {r.exit_code:>4}"
        )


def measure_storm(
    work: Path, *, records: int, client_rate: float, latency: float, concurrency: int
) -> tuple[Row, float]:
    """One apply with api.rate_limit `client_rate` against a server at a fifth of it."""
    server_rate = client_rate / 5
    row = measure(
        "429 storm",
        work,
        records=records,
        arc=63000,
        rate=client_rate,
        latency=latency,
        concurrency=concurrency,
        server_rate=server_rate,
    )
    return row, server_rate


def storm_main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="apply-bench-") as tmp:
        row, server_rate = measure_storm(
            Path(tmp),
            records=args.storm_records,
            client_rate=args.rate,
            latency=args.latency,
            concurrency=args.concurrency,
        )
    print(
        f"api.rate_limit {args.rate:g}/s, server limit {server_rate:g}/s, latency "
        f"{args.latency * 1000:g} ms"
    )
    header = (
        f"{'run':<10} {'records':>7} {'wall s':>7} {'calls':>6} {'calls/s':>8} "
        f"{'% of limit':>10} {'429s':>5} {'failed':>6} {'exit':>4}"
    )
    print(header)
    print("-" * len(header))
    print(
        f"{row.name:<10} {row.records:>7} {row.wall:>7.1f} {row.calls:>6} {row.rate:>8.2f} "
        f"{row.rate / server_rate:>10.0%} {row.rate_limited:>5} {row.failures:>6} "
        f"{row.exit_code:>4}"
    )
    met = row.exit_code == 0 and row.failures == 0
    print(f"target (exit 0, no failure): {'met' if met else 'MISSED'}")


@dataclass
class VerifyRun:
    verify: bool
    wall: float  # start to exit, seconds
    writes: int
    queries: int
    rate_limited: int  # 429s the server sent
    writing: float  # first to last write, in the server's log
    after: float  # last write to exit: the read-back (when on) and the ledger's last write
    verified: str  # the summary's read-back line
    exit_code: int


def verify_run(
    work: Path,
    *,
    verify: bool,
    records: int,
    rate: float,
    latency: float,
    concurrency: int,
    arc: int,
    server_rate: float | None,
) -> VerifyRun:
    """One apply of `records` new organizations, with or without the read-back, to a fresh
    server and repository."""
    repo = make_repo(
        work / f"repo-{arc}", records=records, arc=arc, rate=rate, concurrency=concurrency
    )
    data = work / f"sandbox-{arc}"
    server, credentials = serve(data, latency=latency, rate=server_rate)
    argv = [sys.executable, "-m", "reconciler", "--repo", str(repo), "apply", "--yes"]
    argv += ["--env", "development", *([] if verify else ["--no-verify"])]
    try:
        started = time.monotonic()
        done = subprocess.run(
            argv,
            cwd=repo,
            env=clean_environ(credentials),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.monotonic() - started
        exited = time.time()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-2000:] + done.stderr[-2000:])
    log = [json.loads(line) for line in (data / "requests.jsonl").read_text().splitlines()]
    limited = sum(1 for e in log if e["status"] == 429)
    calls = [e for e in log if e["path"] == "/endpoint" and e["status"] != 429]
    write_times = sorted(e["time"] for e in calls if e["event_type"] in ("New", "Update"))
    queries = sum(1 for e in calls if e["event_type"] == "Query")
    writing = write_times[-1] - write_times[0] if write_times else 0.0
    after = exited - write_times[-1] if write_times else 0.0
    line = next(
        (x for x in done.stdout.splitlines() if x.startswith(("Verified:", "Not verified:"))), ""
    )
    return VerifyRun(
        verify, wall, len(write_times), queries, limited, writing, after, line, done.returncode
    )


def verify_cost_main(args: argparse.Namespace, rate: float) -> None:
    """Runs off and on alternately, `--repeat` times each, so a busy machine slows both alike;
    the medians are compared."""
    runs: list[VerifyRun] = []
    with tempfile.TemporaryDirectory(prefix="apply-verify-") as tmp:
        for n in range(args.repeat):
            for verify in (False, True):
                run = verify_run(
                    Path(tmp),
                    verify=verify,
                    records=args.verify_records,
                    rate=rate,
                    latency=args.latency,
                    concurrency=args.concurrency,
                    arc=64000 + 2 * n + verify,
                    server_rate=args.server_rate,
                )
                runs.append(run)
    limit = f"{args.server_rate:g}/s" if args.server_rate else "none (no 429)"
    print(
        f"{args.verify_records} creates at api.rate_limit {rate:g}/s, the server's limit "
        f"{limit}, latency {args.latency * 1000:g} ms, concurrency {args.concurrency}, "
        f"{args.repeat} runs each (alternating)"
    )
    header = (
        f"{'run':<11} {'to exit s':>9} {'writes':>6} {'writing s':>9} {'queries':>7} "
        f"{'after s':>7} {'429s':>5} {'exit':>4}  read-back"
    )
    print(header)
    print("-" * (len(header) + 22))
    for r in runs:
        print(
            f"{'verify on' if r.verify else 'verify off':<11} {r.wall:>9.1f} {r.writes:>6} "
            f"{r.writing:>9.1f} {r.queries:>7} {r.after:>7.1f} {r.rate_limited:>5} "
            f"{r.exit_code:>4}  {r.verified}"
        )
    off = [r for r in runs if not r.verify]
    on = [r for r in runs if r.verify]
    off_wall, on_wall = (
        statistics.median(r.wall for r in off),
        statistics.median(r.wall for r in on),
    )
    queries = max(r.queries for r in on)
    goal = off_wall * 1.1 + queries / rate
    clean = all(r.exit_code == 0 for r in runs)
    print(
        f"medians: off {off_wall:.1f} s, on {on_wall:.1f} s. Goal: on <= off x 1.1 + queries / R "
        f"= {off_wall:.1f} x 1.1 + {queries} / {rate:g} = {goal:.1f} s: "
        f"{'met' if on_wall <= goal and clean else 'MISSED'}"
    )
    # The part of the run that verification changes, apart from the noise of start-up and of
    # 429s during the writes: from the last write to the exit.
    off_after, on_after = (
        statistics.median(r.after for r in off),
        statistics.median(r.after for r in on),
    )
    print(
        f"last write to exit (medians): off {off_after:.1f} s, on {on_after:.1f} s: the read-back "
        f"costs {on_after - off_after:.1f} s for {queries} queries (queries / R = "
        f"{queries / rate:.1f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="R: server limit and api.rate_limit (default 100; 25 with --verify-cost)",
    )
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serial-records", type=int, default=None, help="N for one at a time")
    parser.add_argument(
        "--ledger-sizes", default=None, help="e.g. 0,10000,100000: the ledger-size scenario"
    )
    parser.add_argument("--updates", type=int, default=100, help="calls of that scenario")
    parser.add_argument("--storm", action="store_true", help="a server at R/5: the 429 scenario")
    parser.add_argument("--storm-records", type=int, default=200)
    parser.add_argument(
        "--verify-cost", action="store_true", help="apply with and without the read-back"
    )
    parser.add_argument("--verify-records", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each (--verify-cost)")
    parser.add_argument(
        "--server-rate",
        type=float,
        default=None,
        help="--verify-cost: the server's 429 limit (default none: the client's alone)",
    )
    args = parser.parse_args()
    if args.verify_cost:
        verify_cost_main(args, args.rate or 25.0)
        return
    args.rate = args.rate or 100.0
    if args.ledger_sizes:
        with tempfile.TemporaryDirectory(prefix="apply-ledger-") as tmp:
            rows = [
                ledger_scale(
                    Path(tmp),
                    ledger=int(size),
                    updates=args.updates,
                    rate=args.rate,
                    latency=args.latency,
                    concurrency=args.concurrency,
                    arc=63000 + index,
                )
                for index, size in enumerate(args.ledger_sizes.split(","))
            ]
        print_ledger_scale(rows, updates=args.updates, rate=args.rate)
        return
    if args.storm:
        storm_main(args)
        return
    with tempfile.TemporaryDirectory(prefix="apply-bench-") as tmp:
        work = Path(tmp)
        rows = [
            measure(
                "apply",
                work,
                records=args.records,
                arc=61000,
                rate=args.rate,
                latency=args.latency,
                concurrency=args.concurrency,
            ),
            measure(
                "one at a time",
                work,
                records=args.serial_records or args.records,
                arc=62000,
                rate=args.rate,
                latency=args.latency,
                concurrency=1,
            ),
        ]
    print(f"R = {args.rate:g}/s, server latency {args.latency * 1000:g} ms")
    header = (
        f"{'run':<14} {'records':>7} {'conc':>4} {'wall s':>7} {'calls':>6} {'calls/s':>8} "
        f"{'% of R':>7} {'429s':>5} {'failed':>6} {'exit':>4}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.name:<14} {r.records:>7} {r.concurrency:>4} {r.wall:>7.1f} {r.calls:>6} "
            f"{r.rate:>8.1f} {r.rate / args.rate:>7.0%} {r.rate_limited:>5} {r.failures:>6} "
            f"{r.exit_code:>4}"
        )
    first = rows[0]
    met = first.rate >= 0.9 * args.rate and first.rate_limited == 0 and first.failures == 0
    print(f"target (>= 90% of R, no 429, no failure): {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()

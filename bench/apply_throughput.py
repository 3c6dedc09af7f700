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

`--storm` measures a 429 storm instead: the server allows R/5 requests/s while the client is
configured for R (api.rate_limit), `--storm-records` organizations (default 200). Reported:
calls/s against the server's limit, the 429s, failures and exit code. Target: exit 0, no
failure (the client halves its rate on each 429 and creeps back up).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

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
    data: Path, *, latency: float, rate: float
) -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    data.mkdir(parents=True)
    log = data / "serve.log"
    args = [sys.executable, "-m", "reconciler", "sandbox", "serve", "--port", "0"]
    args += ["--data", str(data), "--latency", str(latency), "--rate-limit", str(rate)]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=100.0, help="R: server limit and api.rate_limit"
    )
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--serial-records", type=int, default=None, help="N for one at a time")
    parser.add_argument("--storm", action="store_true", help="a server at R/5: the 429 scenario")
    parser.add_argument("--storm-records", type=int, default=200)
    args = parser.parse_args()
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

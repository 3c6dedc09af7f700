"""How `reconciler plan` scales with the number of organization files.

Run: `.venv/bin/python bench/plan_scale.py [--sizes 1000,10000,100000] [--no-noop]`

For each size N it writes N realistic organization files (a few parents, many children with
contacts, addresses and identifiers, about 25 lines each) into a temporary repository and
measures, each in a fresh process (cold start; peak RSS of that process alone, via wait4):

- floor: read every file and `yaml.load` it with `yaml.CSafeLoader` (the cost of the YAML
  itself, which no reconciler can avoid);
- plan: a cold `reconciler plan --format json > /dev/null` against an empty ledger, through
  the real console script;
- no-op: the same plan against a ledger that already holds every record (no changes).

Each time is the fastest of --repeat runs (default 3), as other load on the machine only
ever adds time; the peak RSS is the largest seen.

Targets: plan <= 1.3x the floor at 10k, roughly linear to 100k, 100k under 400 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GATEWAY = "2.16.840.1.113883.3.6147.458.2"
ROOT = "2.16.840.1.113883.3.6147.458.24601"
PARENTS = 5
CITIES = [
    ("Madison", "WI", "537", "Dane"),
    ("Rockford", "IL", "611", "Winnebago"),
    ("Rochester", "MN", "559", "Olmsted"),
    ("Dubuque", "IA", "520", "Dubuque"),
    ("Milwaukee", "WI", "532", "Milwaukee"),
]

FLOOR = """
import sys, yaml
from pathlib import Path
n = 0
for path in sorted(Path(sys.argv[1]).rglob("*.yaml")):
    with open(path, "rb") as handle:
        yaml.load(handle.read().decode("utf-8"), Loader=yaml.CSafeLoader)
    n += 1
assert n
"""

FILL_LEDGER = """
import json, sys
from pathlib import Path
from reconciler import ledger as ledgers
from reconciler import ledger_store
doc = json.loads(Path(sys.argv[1]).read_text())
book = ledgers.Ledger.new("sandbox")
records = dict(book.records)
for c in doc["changes"]:
    records[c["key"]] = ledgers.make_entry(
        kind=c["kind"], identity=c["identity"], envelope=c["envelope"], payload=c["after"],
        active=c["after"].get("Active", True), source=c["source"], commit=None,
    )
from dataclasses import replace
ledger_store.save(Path(sys.argv[2]), replace(book, records=records))
"""


def org_text(index: int, parent: str | None) -> str:
    """One organization file of about 25 lines."""
    oid = f"{ROOT}.{index}" if parent is None else f"{parent}.{index}"
    city, state, zip3, county = CITIES[index % len(CITIES)]
    kind = "Implementer"
    return f"""# Generated for the scale benchmark.
oid: {oid}
name: Northwind Facility {index}
aliases: [Northwind {index}, NW-{index}]
active: true
type: {kind}
part_of: {parent or GATEWAY}
identifiers:
  - {{id: "{index:010d}", id_type: FACID}}
  - id: "NW{index}"
    id_type: LOCAL
contacts:
  - purpose: Technical
    name: Northwind Interoperability Team
    email_addresses: [interop{index % 97}@northwind-health.example]
    phone_number: {{work: "+1608555{index % 10000:04d}", mobile: "+1608556{index % 10000:04d}"}}
  - purpose: Administrative
    name: Facility Manager {index}
    email_addresses: [manager{index}@northwind-health.example]
address:
  street_address: {100 + index % 9000} Main St
  city: {city}
  state: {state}
  zip: "{zip3}{index % 100:02d}"
  county: {county}
  country: USA
"""


def write_repo(root: Path, count: int) -> None:
    """N organization files: PARENTS parents under the gateway, the rest spread under them."""
    orgs = root / "orgs"
    parents = [f"{ROOT}.{i}" for i in range(1, PARENTS + 1)]
    for i in range(1, PARENTS + 1):
        folder = orgs / f"group-{i}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "parent.yaml").write_text(org_text(i, None), encoding="utf-8")
    for i in range(count - PARENTS):
        parent = parents[i % PARENTS]
        folder = orgs / f"group-{i % PARENTS + 1}"
        (folder / f"facility-{i:06d}.yaml").write_text(org_text(1000 + i, parent), encoding="utf-8")


def measure(argv: list[str], *, repeat: int = 1) -> tuple[float, float]:
    """Wall seconds (the fastest of `repeat` runs: other load only ever adds time) and peak
    RSS (MB) of a fresh process each time; fails loudly on a non-zero exit."""
    runs = [_run(argv) for _ in range(repeat)]
    return min(t for t, _ in runs), max(mb for _, mb in runs)


def _run(argv: list[str], *, stdout: int | None = subprocess.DEVNULL) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{argv} exited {proc.returncode}:\n{err[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def reconciler_command() -> list[str]:
    script = Path(sys.executable).parent / "reconciler"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


def run_size(count: int, *, noop: bool, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as tmp:
        root = Path(tmp)
        write_repo(root, count)
        floor_s, floor_mb = measure(
            [sys.executable, "-c", FLOOR, str(root / "orgs")], repeat=repeat
        )
        plan_s, plan_mb = measure(
            [*reconciler_command(), "--repo", tmp, "plan", "--format", "json"], repeat=repeat
        )
        row = {
            "n": count,
            "floor": floor_s,
            "plan": plan_s,
            "plan_mb": plan_mb,
            "floor_mb": floor_mb,
        }
        if noop:
            out = root / "plan.json"
            measure([*reconciler_command(), "--repo", tmp, "plan", "--out", str(out)])
            ledger = root / ".reconciler" / "sandbox" / "ledger.json"
            measure([sys.executable, "-c", FILL_LEDGER, str(out), str(ledger)])
            noop_s, noop_mb = measure(
                [*reconciler_command(), "--repo", tmp, "plan", "--detailed-exitcode"], repeat=repeat
            )
            row.update(noop=noop_s, noop_mb=noop_mb)
        return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated file counts")
    parser.add_argument("--no-noop", action="store_true", help="skip the no-op plan")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the fastest counts"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    header = f"{'N':>8} {'floor s':>8} {'plan s':>8} {'ratio':>6} {'peak MB':>8}"
    if not args.no_noop:
        header += f" {'no-op s':>8} {'no-op MB':>9}"
    print(header, flush=True)
    rows = []
    for count in sizes:
        row = run_size(count, noop=not args.no_noop, repeat=args.repeat)
        rows.append(row)
        line = (
            f"{count:>8} {row['floor']:>8.2f} {row['plan']:>8.2f} "
            f"{row['plan'] / row['floor']:>6.2f} {row['plan_mb']:>8.0f}"
        )
        if "noop" in row:
            line += f" {row['noop']:>8.2f} {row['noop_mb']:>9.0f}"
        print(line, flush=True)
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()

"""How `reconciler plan` scales with the number of organization files.

Run: `.venv/bin/python bench/plan_scale.py [--sizes 1000,10000,100000] [--repeat 3]
[--cases cold,text,warm,noop,noop-warm,changed]`

For each size N it writes N realistic organization files (a few parents, many children with
contacts, addresses and identifiers, about 25 lines each) into a temporary repository and
measures, each in a fresh process (peak RSS of that process alone: tests/peak_rss.py):

- floor: read every file and `yaml.load` it with `yaml.CSafeLoader` (the cost of the YAML
  itself, which no reconciler can avoid);
- cold: `reconciler plan --format json --no-cache` against an empty ledger (N creates), through
  the real console script; text: the same with the text plan;
- warm: the same plan with the plan cache filled by an earlier run (unchanged files);
- noop: against a ledger that already holds every record (no changes), cache not used;
  noop-warm: the same with the cache filled;
- changed: 1% of the files edited (one field each) against the full ledger, the cache filled
  by the plan before the edit: what a pull request's plan costs.

Each time is the least CPU time (user + system) of --repeat runs, as other load on the machine
only ever adds time; the ratio is to the floor's, measured in the same run; the peak RSS is the
largest seen. Wall seconds are printed too.

Targets (issue 16): cold <= 1.3x the floor at 10k and 100k, text <= json + 10%; warm <= 0.35x
at 10k; no-op at 100k <= 1.3x and <= 400 MB.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from peak_rss import measured  # the peak RSS of the command alone

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
from reconciler.ledger import model as ledgers
from reconciler.ledger import file as ledger_file
doc = json.loads(Path(sys.argv[1]).read_text())
book = ledgers.Ledger.new("sandbox")
records = dict(book.records)
for c in doc["changes"]:
    records[c["key"]] = ledgers.make_entry(
        kind=c["kind"], identity=c["identity"], envelope=c["envelope"], payload=c["after"],
        active=c["after"].get("Active", True), source=c["source"], commit=None,
    )
from dataclasses import replace
ledger_file.save(Path(sys.argv[2]), replace(book, records=records))
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


@dataclass
class Run:
    cpu: float  # user + system seconds
    wall: float
    mb: float  # peak RSS


def measure(argv: list[str], *, repeat: int = 1) -> Run:
    """The least CPU and wall seconds of `repeat` fresh processes, and the largest peak RSS
    (MB); fails loudly on an exit other than 0 or 2 (changes)."""
    runs = [_run(argv) for _ in range(repeat)]
    return Run(min(r.cpu for r in runs), min(r.wall for r in runs), max(r.mb for r in runs))


def _run(argv: list[str]) -> Run:
    with tempfile.TemporaryFile() as err:
        usage = measured(argv, stdout=subprocess.DEVNULL, stderr=err)
        err.seek(0)
        if usage.returncode not in (0, 2):
            message = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"{argv} exited {usage.returncode}:\n{message}")
    return Run(usage.cpu, usage.wall, usage.peak / 2**20)


def reconciler_command() -> list[str]:
    script = Path(sys.executable).parent / "reconciler"
    return [str(script)] if script.exists() else [sys.executable, "-m", "reconciler"]


CITY = re.compile(r"^  city: .*$", re.MULTILINE)


def edit_share(root: Path, share: float, *, city: str) -> int:
    """Set the city of `share` of the organization files; how many were changed."""
    files = sorted((root / "orgs").rglob("facility-*.yaml"))
    changed = files[:: max(1, round(1 / share))]
    for path in changed:
        text = path.read_text(encoding="utf-8")
        path.write_text(CITY.sub(f"  city: {city}", text, count=1), encoding="utf-8")
    return len(changed)


CASES = ("cold", "text", "warm", "noop", "noop-warm", "changed")


def run_size(count: int, *, cases: set[str], repeat: int) -> dict[str, Run]:
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as tmp:
        root = Path(tmp)
        write_repo(root, count)
        plan = [*reconciler_command(), "--repo", tmp, "plan"]
        found = {"floor": measure([sys.executable, "-c", FLOOR, str(root / "orgs")], repeat=repeat)}
        if "cold" in cases:
            found["cold"] = measure([*plan, "--format", "json", "--no-cache"], repeat=repeat)
        if "text" in cases:
            found["text"] = measure([*plan, "--no-cache"], repeat=repeat)
        if "warm" in cases:
            measure([*plan, "--format", "json"])  # fills the cache
            found["warm"] = measure([*plan, "--format", "json"], repeat=repeat)
        if cases & {"noop", "noop-warm", "changed"}:
            out = root / "plan.json"
            measure([*plan, "--out", str(out)])
            ledger = root / ".reconciler" / "sandbox" / "ledger.json"
            measure([sys.executable, "-c", FILL_LEDGER, str(out), str(ledger)])
            out.unlink()
            noop = [*plan, "--detailed-exitcode"]
            if "noop" in cases:
                found["noop"] = measure([*noop, "--no-cache"], repeat=repeat)
            if "noop-warm" in cases:
                measure(noop)
                found["noop-warm"] = measure(noop, repeat=repeat)
            if "changed" in cases:
                measure(noop)  # the cache holds every file as it is
                runs = []
                for attempt in range(repeat):  # new contents each time: never in the cache
                    edit_share(root, 0.01, city=f"Verona {attempt}")
                    runs.append(_run([*plan, "--format", "json"]))
                found["changed"] = Run(
                    min(r.cpu for r in runs), min(r.wall for r in runs), max(r.mb for r in runs)
                )
        return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated file counts")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the fastest counts"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    cases = {c for c in args.cases.split(",") if c}
    print(
        f"{'N':>7} {'case':<10} {'CPU s':>7} {'ratio':>6} {'wall s':>7} {'peak MB':>8}", flush=True
    )
    rows = []
    for count in sizes:
        found = run_size(count, cases=cases, repeat=args.repeat)
        floor = found["floor"].cpu
        for case, run in found.items():
            rows.append({"n": count, "case": case, **run.__dict__, "ratio": run.cpu / floor})
            print(
                f"{count:>7} {case:<10} {run.cpu:>7.2f} {run.cpu / floor:>6.2f} "
                f"{run.wall:>7.2f} {run.mb:>8.0f}",
                flush=True,
            )
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()

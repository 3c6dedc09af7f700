"""How `reconciler plan` scales with the number of organization files, against the cost of the
YAML alone and against octoDNS.

Run: `.venv/bin/python bench/plan_scale.py [--sizes 1000,10000,100000] [--repeat 3]
[--cases cold,serial,warm,warm-index,noop,noop-index,noop-cold,changed,octodns]
[--octodns-sizes 10000]`

For each size N it writes N realistic organization files (a few parents, many children with
contacts, addresses and identifiers, about 25 lines each) into a temporary repository and
measures, each in a fresh process (peak RSS of that process and the workers it waited for:
tests/peak_rss.py):

- floor: read every file and `yaml.load` it with `yaml.CSafeLoader`, in one process on one
  core: the cost of the YAML itself, which no reconciler can avoid;
- cold: `reconciler plan --format json` with no stat index (no .reconciler/cache) against an
  empty ledger (N creates), through the real console script: the files are parsed in a pool
  of one process per available CPU; serial: the same with `--jobs 1`;
- warm: the same plan again, nothing changed since the last one: answered from the answer the
  last run kept (reconcile/answers.py: a walk and a few stats); warm-index: the same with the
  kept answers removed before each run (the stat index vouches for every file, none is opened:
  what a plan costs when it is asked a new question, `--format text` after JSON);
- noop: against a ledger that already holds every record (no changes), answered as warm is;
  noop-index: the same with no kept answer, the index warm; noop-cold: the same with
  `--no-cache` (every file parsed);
- changed: 1% of the files edited (one field each) against the full ledger, the index filled
  by the plan before the edit: what a pull request's plan costs;
- octodns: `octodns-sync` (a dry run: its plan) of a zone of N records kept one file per record
  (YamlProvider with split_extension), against a YAML target that already holds them: octoDNS's
  no-op plan of the same number of records. octoDNS is installed from PyPI into the bench's own
  virtual environment, .reconciler/bench/octodns-venv in the project (made once, then reused).

Each time is the least of --repeat runs (wall and CPU, user + system, taken apart), as other
load on the machine only ever adds time; each ratio is to the floor's, measured in the same run;
the peak RSS is the largest seen. The machine's available CPUs and load are printed first.

Targets (issue 25), wall time against the floor at 10k: cold <= 1.0x, warm <= 0.2x, both
within 10% at 100k; noop at 100k <= 300 MB; noop <= 0.3x octoDNS's time and <= 1x its memory.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from peak_rss import measured  # the peak RSS of the command alone

PROJECT = Path(__file__).resolve().parents[1]
OCTODNS = "octodns==1.22.0"  # pinned: each release changes what a plan does
OCTODNS_VENV = PROJECT / ".reconciler" / "bench" / "octodns-venv"
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


def octodns_text(index: int) -> str:
    """One octoDNS record file holding what org_text holds, as the values of a TXT record."""
    city, state, zip3, county = CITIES[index % len(CITIES)]
    values = [
        f"oid={ROOT}.1.{index}",
        f"name=Northwind Facility {index}",
        f"aliases=Northwind {index}, NW-{index}",
        "active=true",
        "type=Implementer",
        f"part_of={ROOT}.1",
        f"identifiers={index:010d} FACID, NW{index} LOCAL",
        f"contact=Technical Northwind Interoperability Team interop{index % 97}@northwind.example",
        f"phones=+1608555{index % 10000:04d} +1608556{index % 10000:04d}",
        f"contact=Administrative Facility Manager {index} manager{index}@northwind.example",
        f"address={100 + index % 9000} Main St, {city}, {state} {zip3}{index % 100:02d}",
        f"county={county}",
        "country=USA",
    ]
    lines = "".join(f"    - {json.dumps(v)}\n" for v in sorted(values))
    head = f"# Generated for the scale benchmark.\nfacility-{index:06d}:\n"
    return head + "  type: TXT\n  values:\n" + lines


def write_octodns(root: Path, count: int) -> Path:
    """A split zone of `count` record files, and an octoDNS config whose target is a YAML
    provider (filled by one `--doit` sync, so that the measured plan is a no-op)."""
    zone = "northwind.example."
    split = root / "records" / zone
    split.mkdir(parents=True)
    for i in range(count):
        (split / f"facility-{i:06d}.yaml").write_text(octodns_text(1000 + i), encoding="utf-8")
    (root / "target").mkdir()
    config = root / "octodns.yaml"
    config.write_text(
        f"""providers:
  records:
    class: octodns.provider.yaml.YamlProvider
    directory: {root / "records"}
    split_extension: .
    enforce_order: false
  target:
    class: octodns.provider.yaml.YamlProvider
    directory: {root / "target"}
    enforce_order: false
zones:
  {zone}:
    sources: [records]
    targets: [target]
""",
        encoding="utf-8",
    )
    return config


def octodns_venv() -> Path:
    """The bench's own octoDNS (never the project's environment): made once, then reused."""
    sync = OCTODNS_VENV / ("Scripts" if os.name == "nt" else "bin") / "octodns-sync"
    if not sync.exists():
        subprocess.run([sys.executable, "-m", "venv", str(OCTODNS_VENV)], check=True)
        pip = OCTODNS_VENV / ("Scripts" if os.name == "nt" else "bin") / "pip"
        subprocess.run([str(pip), "install", "-q", OCTODNS], check=True)
    return sync


@dataclass
class Run:
    cpu: float  # user + system seconds
    wall: float
    mb: float  # peak RSS


def measure(argv: list[str], *, repeat: int = 1, before: list[str] | None = None) -> Run:
    """The least CPU and wall seconds of `repeat` fresh processes, and the largest peak RSS
    (MB); fails loudly on an exit other than 0 or 2 (changes). `before`: a folder removed
    before each run."""
    runs = []
    for _ in range(repeat):
        for folder in before or ():
            shutil.rmtree(folder, ignore_errors=True)
        runs.append(_run(argv))
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


CASES = (
    "cold",
    "serial",
    "warm",
    "warm-index",
    "noop",
    "noop-index",
    "noop-cold",
    "changed",
    "octodns",
)


def run_size(count: int, *, cases: set[str], repeat: int, octodns: bool) -> dict[str, Run]:
    with tempfile.TemporaryDirectory(prefix="plan-scale-") as tmp:
        root = Path(tmp)
        write_repo(root, count)
        index = str(root / ".reconciler" / "cache")
        answers = str(root / ".reconciler" / "cache" / "answers")
        plan = [*reconciler_command(), "--repo", tmp, "plan"]
        found = {"floor": measure([sys.executable, "-c", FLOOR, str(root / "orgs")], repeat=repeat)}
        if "cold" in cases:
            found["cold"] = measure([*plan, "--format", "json"], repeat=repeat, before=[index])
        if "serial" in cases:
            serial = [*plan, "--format", "json", "--jobs", "1"]
            found["serial"] = measure(serial, repeat=repeat, before=[index])
        if "warm" in cases:
            measure([*plan, "--format", "json"])  # fills the index
            found["warm"] = measure([*plan, "--format", "json"], repeat=repeat)
        if "warm-index" in cases:
            warm = [*plan, "--format", "json"]
            measure(warm)  # fills the index
            found["warm-index"] = measure(warm, repeat=repeat, before=[answers])
        if cases & {"noop", "noop-cold", "changed"}:
            out = root / "plan.json"
            measure([*plan, "--out", str(out)])
            ledger = root / ".reconciler" / "sandbox" / "ledger.json"
            measure([sys.executable, "-c", FILL_LEDGER, str(out), str(ledger)])
            out.unlink()
            noop = [*plan, "--detailed-exitcode"]
            if "noop" in cases:
                measure(noop)
                found["noop"] = measure(noop, repeat=repeat)
            if "noop-index" in cases:
                measure(noop)
                found["noop-index"] = measure(noop, repeat=repeat, before=[answers])
            if "noop-cold" in cases:
                found["noop-cold"] = measure([*noop, "--no-cache"], repeat=repeat)
            if "changed" in cases:
                measure(noop)  # the index holds every file as it is
                runs = []
                for attempt in range(repeat):  # new contents each time: never in the index
                    edit_share(root, 0.01, city=f"Verona {attempt}")
                    runs.append(_run([*plan, "--format", "json"]))
                found["changed"] = Run(
                    min(r.cpu for r in runs), min(r.wall for r in runs), max(r.mb for r in runs)
                )
        if octodns:
            sync = str(octodns_venv())
            config = str(write_octodns(root / "octodns", count))
            measure([sync, "--config-file", config, "--doit", "--force"])  # fills the target
            found["octodns"] = measure([sync, "--config-file", config], repeat=repeat)
        return found


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated file counts")
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    parser.add_argument("--octodns-sizes", default="10000", help="sizes octoDNS runs at")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the fastest counts"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    cases = {c for c in args.cases.split(",") if c}
    octodns_sizes = {int(s) for s in args.octodns_sizes.split(",") if s}
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"{_cpus()} CPUs available; load average {load}", flush=True)
    print(
        f"{'N':>7} {'case':<10} {'wall s':>7} {'x floor':>7} {'CPU s':>7} {'x floor':>7} "
        f"{'peak MB':>8}",
        flush=True,
    )
    rows = []
    for count in sizes:
        octodns = "octodns" in cases and count in octodns_sizes
        found = run_size(count, cases=cases, repeat=args.repeat, octodns=octodns)
        floor = found["floor"]
        for case, run in found.items():
            wall, cpu = run.wall / floor.wall, run.cpu / floor.cpu
            rows.append({"n": count, "case": case, **run.__dict__, "wall_x": wall, "cpu_x": cpu})
            print(
                f"{count:>7} {case:<10} {run.wall:>7.2f} {wall:>7.2f} {run.cpu:>7.2f} "
                f"{cpu:>7.2f} {run.mb:>8.0f}",
                flush=True,
            )
        if "octodns" in found and "noop" in found:
            theirs, ours = found["octodns"], found["noop"]
            print(
                f"{count:>7} noop vs octoDNS: {ours.wall / theirs.wall:.2f}x its wall time, "
                f"{ours.mb / theirs.mb:.2f}x its peak memory",
                flush=True,
            )
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"load average at the end {load}", flush=True)
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()

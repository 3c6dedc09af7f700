"""Where the time of `reconciler plan` goes, phase by phase, and inside the reading of files.

Run: `.venv/bin/python bench/plan_phases.py [--size 10000] [--repeat 3] [--profile]`

Writes the repository bench/plan_scale.py writes (N organization files), then, in fresh
processes, times each phase of a plan as the CLI runs it (CPU seconds of this process, and of
the pool's workers where they run): start-up imports, the walk, reading and validating the files
(serial and in the pool), the checks across files, the stat index's read and write, the ledger,
building the plan, its digest and the JSON rendering. Each figure is the least of --repeat runs.
Cases: cold (no index, empty ledger: N creates), warm (the index filled), noop (the index filled
and a ledger holding every record). With --profile, one cProfile run of a cold serial read
prints the functions that take the most time of their own.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_scale import FILL_LEDGER, FLOOR, write_repo

PHASES = """
import json, os, resource, sys
from pathlib import Path

def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

found = {}
def mark(name, start):
    found[name] = round(cpu() - start, 3)
    return cpu()

t = cpu()
from reconciler.kinds import KINDS
from reconciler.plan.build import build_plan
from reconciler.reconcile.workspace import Workspace
from reconciler.records.loader import desired_digest
from reconciler.records.walk import found_files
from reconciler.render import render_json_chunks
t = mark("imports", t)
repo, jobs, cache = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
ws = Workspace(repo, "sandbox", cache=cache, jobs=jobs or None)
ws.settings
t = mark("settings", t)
found_files(repo, KINDS["organization"].folder)
t = mark("walk (alone)", t)
ledger = ws.ledger()
t = mark("ledger", t)
records = ws.records
t = mark("files -> records", t)
built = build_plan(ws.desired, ledger, desired_digest=desired_digest(ws.desired))
t = mark("build plan", t)
built.digest
t = mark("plan digest", t)
with open(os.devnull, "w") as out:
    out.writelines(render_json_chunks(built))
t = mark("render json", t)
found.update(opened=records.opened, parsed=records.parsed, changes=len(built.changes))
print(json.dumps(found))
"""

PROFILE = """
import cProfile, pstats, sys
from pathlib import Path
from reconciler.reconcile.workspace import Workspace
ws = Workspace(Path(sys.argv[1]), "sandbox", cache=False, jobs=1)
ws.settings
cProfile.run("ws.records", sys.argv[2])
pstats.Stats(sys.argv[2]).sort_stats("tottime").print_stats(int(sys.argv[3]))
"""


def phases(repo: Path, *, jobs: int, cache: bool, repeat: int) -> dict[str, float]:
    """The least CPU of each phase over `repeat` runs."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        if not cache:
            subprocess.run(["rm", "-rf", str(repo / ".reconciler" / "cache")], check=True)
        done = subprocess.run(
            [sys.executable, "-c", PHASES, str(repo), str(jobs), "1" if cache else "0"],
            capture_output=True,
            text=True,
            check=True,
        )
        for name, value in json.loads(done.stdout).items():
            best[name] = min(best.get(name, value), value)
    return best


def floor_cpu(repo: Path, repeat: int) -> float:
    timed = FLOOR.replace("n = 0", "import resource\nn = 0") + (
        "\nu = resource.getrusage(resource.RUSAGE_SELF)\nprint(u.ru_utime + u.ru_stime)\n"
    )
    return min(
        float(
            subprocess.run(
                [sys.executable, "-c", timed, str(repo / "orgs")],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        for _ in range(repeat)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile a cold serial read")
    args = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    print(f"{len(os.sched_getaffinity(0))} CPUs available; load average {load}")
    with tempfile.TemporaryDirectory(prefix="plan-phases-") as tmp:
        repo = Path(tmp)
        write_repo(repo, args.size)
        floor = floor_cpu(repo, args.repeat)
        cases = {
            "cold serial": phases(repo, jobs=1, cache=False, repeat=args.repeat),
            "cold pool": phases(repo, jobs=0, cache=False, repeat=args.repeat),
        }
        phases(repo, jobs=0, cache=True, repeat=1)  # fills the index
        cases["warm"] = phases(repo, jobs=0, cache=True, repeat=args.repeat)
        out = repo / "plan.json"
        subprocess.run(
            [sys.executable, "-m", "reconciler", "--repo", tmp, "plan", "--out", str(out)],
            capture_output=True,
            check=True,
        )
        ledger = repo / ".reconciler" / "sandbox" / "ledger.json"
        subprocess.run([sys.executable, "-c", FILL_LEDGER, str(out), str(ledger)], check=True)
        cases["noop"] = phases(repo, jobs=0, cache=True, repeat=args.repeat)
        names = list(next(iter(cases.values())))
        print(f"N = {args.size}; floor (read + CSafeLoader, one process): {floor:.2f} s CPU")
        print(f"{'phase (CPU s, x floor)':<22}" + "".join(f"{c:>20}" for c in cases))
        for name in names:
            cells = []
            for case in cases.values():
                value = case[name]
                counted = name in ("opened", "parsed", "changes")
                shown = f"{value:.0f}" if counted else f"{value:.2f} {value / floor:5.2f}x"
                cells.append(f"{shown:>20}")
            print(f"{name:<22}" + "".join(cells))
        if args.profile:
            print("\ncProfile of a cold serial read (the functions with most time of their own):")
            subprocess.run(["rm", "-rf", str(repo / ".reconciler" / "cache")], check=True)
            profile = str(repo / "read.prof")
            subprocess.run([sys.executable, "-c", PROFILE, tmp, profile, "25"], check=True)


if __name__ == "__main__":
    main()

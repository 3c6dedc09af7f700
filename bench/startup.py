"""How long `reconciler validate` and `plan` take to start, on the project's 7-record example.

Run: `.venv/bin/python bench/startup.py [--runs 15] [--top 12]`

Each command runs --runs times in a fresh process (`python -m reconciler`): the wall time and
CPU time (user + system, via wait4) are the fastest of the runs, as other load only ever adds
time. Each command is timed three ways:
- answered: nothing changed since the last run, which kept its answer (reconcile/answers.py):
  what an engineer's second `validate`, or a pre-commit hook on an unchanged tree, costs;
- in full: the kept answers removed before each run (the first run after any change), in
  this environment as it is;
- in full with the bytecode kept between runs (PYTHONPYCACHEPREFIX in the bench's temporary
  folder). The two "in full" differ where PYTHONDONTWRITEBYTECODE is set and the package is
  installed editable: every process then compiles the package from source, which an installed
  wheel or a machine without the variable never does.
Then one `python -X importtime` run of each, in full, lists the modules whose own import took
longest, and whether asyncio, httpx or uvicorn were loaded at all.
Target (issues 16 and 25): validate <= 0.15 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
HEAVY = ("asyncio", "httpx", "uvicorn")
COMMANDS = (("validate",), ("plan",), ("plan", "--format", "json"))
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def timed(
    argv: list[str],
    runs: int,
    env: dict[str, str] | None = None,
    before: Callable[[], None] | None = None,
) -> tuple[float, float]:
    """The fastest wall and CPU seconds of `runs` fresh processes (`before` runs, untimed,
    before each)."""
    walls, cpus = [], []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        cpus.append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{argv} failed")
    return min(walls), min(cpus)


def imports(argv: list[str], forget: Callable[[], None]) -> list[tuple[int, str]]:
    """(self microseconds, module) of every module one run imports, in full (`forget` removes
    the kept answers first)."""
    forget()
    err = subprocess.run(
        [sys.executable, "-X", "importtime", *argv[1:]], capture_output=True, text=True
    ).stderr
    return [(int(m[1]), m[4]) for line in err.splitlines() if (m := LINE.match(line))]


def kept_bytecode(folder: Path) -> dict[str, str]:
    """The environment of a process whose bytecode is kept in `folder` (PYTHONPYCACHEPREFIX),
    as on a machine without PYTHONDONTWRITEBYTECODE: a first run there writes it."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(folder)
    return env


def bytecode_here() -> str:
    """Whether the package's modules are compiled from source in each process of this
    environment (PYTHONDONTWRITEBYTECODE and no bytecode beside them or in a prefix)."""
    if not sys.dont_write_bytecode:
        return "written and kept (__pycache__)"
    source = PROJECT / "reconciler" / "cli" / "__init__.py"
    if Path(importlib.util.cache_from_source(str(source))).exists():
        return "PYTHONDONTWRITEBYTECODE is set; the package's bytecode exists already"
    return "PYTHONDONTWRITEBYTECODE is set: each process compiles the package from source"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="startup-") as tmp:
        repo = Path(tmp)
        answers = repo / ".reconciler" / "cache" / "answers"

        def forget() -> None:
            """Remove the kept answers: the next run is made in full."""
            shutil.rmtree(answers, ignore_errors=True)

        for folder in ("orgs", "providers"):
            shutil.copytree(PROJECT / folder, repo / folder)
        shutil.copy(PROJECT / "reconciler.yaml", repo / "reconciler.yaml")
        bare, bare_cpu = timed([sys.executable, "-c", "pass"], args.runs)
        print(f"python -c pass: {bare:.3f} s wall, {bare_cpu:.3f} s CPU")
        print(f"bytecode here: {bytecode_here()}")
        print("answered: from the answer the last run kept; in full: no kept answer;")
        print("kept bytecode: in full, with the bytecode kept between runs (PYTHONPYCACHEPREFIX)")
        print(
            f"{'':<22} {'answered':>15} {'in full':>15} {'':>10} {'kept bytecode':>15}"
            f"\n{'command':<22} {'wall s':>7} {'CPU s':>7} {'wall s':>7} {'CPU s':>7} "
            f"{'imports ms':>10} {'wall s':>7} {'CPU s':>7}  heavy modules loaded"
        )
        kept = kept_bytecode(Path(tmp) / "bytecode")
        tops = {}
        for command in COMMANDS:
            argv = [sys.executable, "-m", "reconciler", "--repo", str(repo), *command]
            timed(argv, 1)  # keeps the answer
            answered, answered_cpu = timed(argv, args.runs)
            wall, cpu = timed(argv, args.runs, before=forget)
            timed(argv, 1, kept)  # writes the bytecode
            kept_wall, kept_cpu = timed(argv, args.runs, kept, before=forget)
            found = imports(argv, forget)
            heavy = sorted({name for _, name in found if name.split(".")[0] in HEAVY})
            total = sum(us for us, _ in found) / 1000
            name = " ".join(command)
            print(
                f"{name:<22} {answered:>7.3f} {answered_cpu:>7.3f} {wall:>7.3f} {cpu:>7.3f} "
                f"{total:>10.0f} {kept_wall:>7.3f} {kept_cpu:>7.3f}  {', '.join(heavy) or 'none'}"
            )
            tops[name] = sorted(found, reverse=True)[: args.top]
        for name, top in tops.items():
            print(f"\nslowest own imports of `{name}` (ms, one run):")
            for us, module in top:
                print(f"  {us / 1000:6.1f}  {module}")


if __name__ == "__main__":
    main()

"""How long each hostile input of issue 12's table takes to be refused, and the peak memory.

Run: `.venv/bin/python bench/hostile_input.py [--repeat 3]`

Each case of tests/hostile_cases.py (every row of the table and its neighbours) breaks a fresh
copy of the example repository and runs its command in a fresh process of the real CLI; the
time is the fastest of --repeat runs (other load on the machine only ever adds time), the
peak RSS that process's own (tests/peak_rss.py). Target: every row under 2 s and 200 MB.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hostile import run
from hostile_cases import CASES, POSIX, prepared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        pristine = prepared(base / "pristine")
        print(f"{'case':36} {'exit':>4} {'seconds':>8} {'MB':>6}")
        worst_time = worst_rss = 0.0
        for case in CASES:
            if case.posix and not POSIX:
                continue
            times, rss, code = [], 0, 0
            for attempt in range(options.repeat):
                work = base / f"{case.id}-{attempt}"
                repo, outside = work / "repo", work / "outside"
                shutil.copytree(pristine, repo, symlinks=True)
                outside.mkdir()
                case.make(repo, outside)
                answer = run(repo, *case.command)
                times.append(answer.seconds)
                rss = max(rss, answer.max_rss)
                code = answer.returncode
                shutil.rmtree(work, ignore_errors=True)
            best = min(times)
            worst_time, worst_rss = max(worst_time, best), max(worst_rss, rss / 2**20)
            print(f"{case.id:36} {code:>4} {best:>8.2f} {rss / 2**20:>6.0f}")
        print(f"slowest {worst_time:.2f} s, largest {worst_rss:.0f} MB over {len(CASES)} cases")


if __name__ == "__main__":
    main()

"""What the audit trail costs: an append, against the length of the trail; `audit verify` of a
100,000-line trail; and verify with a git history of the trail.

Run: `.venv/bin/python bench/audit_trail.py [--lines 0,1000,10000,100000] [--appends 30]
[--verify-lines 100000] [--runs 3] [--commits 50] [--per-commit 200] [--calls 3]`

- append: for each trail length L, a trail of L lines (each with --calls calls, written as the
  tool writes them), then --appends appends through `AuditTrail.append` under the apply lock,
  as apply will make them. Printed: the median and the slowest append (wall ms), and the bytes
  the process read per append (/proc/self/io `rchar`, Linux): what does not grow with L is
  O(1) in the trail's length. An append fsyncs the redo record, its folder and the trail: on a
  real disk those dominate, and do not depend on L either.
- verify: `reconciler audit verify` as a fresh process on a --verify-lines trail outside git,
  the fastest of --runs (wall and CPU seconds: other load only ever adds time), the same on an
  empty trail (what starting the process costs), and the chain alone, in-process. Target
  (issue 22): < 2 s. On a loaded machine read the CPU seconds: the wall time is mostly waiting.
- verify with git: a trail committed --commits times, --per-commit lines each time; the wall
  seconds of `reconciler audit verify`, which reads every committed version through one
  `git cat-file --batch`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reconciler.audit import GENESIS, entry_for
from reconciler.audit.verify import check_chain
from reconciler.formats.jsontext import canonical_json
from reconciler.reconcile.workspace import Workspace

ENV = "production"
TRAIL = f"audit/{ENV}.jsonl"


def document(seq: int, prev: str, calls: int) -> dict[str, object]:
    """One entry as an apply of `calls` records would write it."""
    return {
        "seq": seq,
        "time": "2026-12-07T10:00:00Z",
        "environment": ENV,
        "actor": "alice",
        "via": "github",
        "commit": "0123456789abcdef" * 2 + "01234567",
        "pull_request": 42,
        "approved_by": ["bob"],
        "plan_digest": "sha256:" + "ab" * 32,
        "policy_overrides": [],
        "result": "applied",
        "calls": [
            {
                "key": f"organization:2.16.840.1.113883.3.6147.458.{seq}.{n}",
                "action": "update",
                "status": "applied",
                "redox_log_id": f"d9f5d293-{seq:04x}-4000-8000-{n:012x}",
            }
            for n in range(calls)
        ],
        "prev": prev,
    }


def write_lines(path: Path, start: int, count: int, prev: str, calls: int) -> str:
    """Append `count` lines from seq `start` after the line whose hash is `prev`; the last
    hash. (Written directly, as the tool writes them, to build long trails fast.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for seq in range(start, start + count):
            body = document(seq, prev, calls)
            prev = "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()
            handle.write(canonical_json({**body, "hash": prev}) + "\n")
    return prev


def read_bytes_so_far() -> int | None:
    try:
        text = Path("/proc/self/io").read_text()
    except OSError:
        return None
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("rchar:")))


def bench_append(lines: int, appends: int, calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="audit-append-") as tmp:
        repo = Path(tmp)
        write_lines(repo / TRAIL, 1, lines, GENESIS, calls)
        ws = Workspace(repo=repo, env_name=ENV)
        trail = ws.audit_trail()
        size = (repo / TRAIL).stat().st_size if lines else 0
        draft = entry_for(
            environment=ENV,
            actor="alice",
            via="github",
            result="applied",
            calls=[
                {"key": f"organization:1.2.{n}", "action": "update", "status": "applied"}
                for n in range(calls)
            ],
        )
        times, reads = [], []
        for _ in range(appends):
            before_read = read_bytes_so_far()
            start = time.perf_counter()
            with ws.ledger_store.lock("apply"):
                trail.append(draft)
            times.append(time.perf_counter() - start)
            after_read = read_bytes_so_far()
            if before_read is not None and after_read is not None:
                reads.append(after_read - before_read)
        read = f"{statistics.median(reads):>10,.0f}" if reads else f"{'n/a':>10}"
        print(
            f"{lines:>9,} {size / 2**20:>9.1f} {statistics.median(times) * 1000:>10.2f} "
            f"{max(times) * 1000:>9.2f} {read}"
        )


def run_verify(repo: Path, runs: int) -> tuple[float, float, str]:
    """The fastest wall and CPU seconds of `reconciler audit verify` in fresh processes."""
    walls, cpus = [], []
    out = ""
    argv = [sys.executable, "-m", "reconciler", "--repo", str(repo), "audit", "verify"]
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*argv, "--env", ENV], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        assert proc.stdout is not None
        out = proc.stdout.read().decode()
        _pid, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        cpus.append(usage.ru_utime + usage.ru_stime)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"audit verify failed:\n{out}")
    return min(walls), min(cpus), out


def bench_verify(lines: int, runs: int, calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="audit-verify-") as tmp:
        repo = Path(tmp)
        write_lines(repo / TRAIL, 1, lines, GENESIS, calls)
        size = (repo / TRAIL).stat().st_size
        wall, cpu, out = run_verify(repo, runs)
        ws = Workspace(repo=repo, env_name=ENV)
        chain, chain_cpu = [], []
        for _ in range(runs):
            start, start_cpu = time.perf_counter(), time.process_time()
            count, _last, bad, _notes, _seen = check_chain(
                ws.audit_trail().lines(), environment=ENV
            )
            chain.append(time.perf_counter() - start)
            chain_cpu.append(time.process_time() - start_cpu)
            assert bad is None, bad
            assert count == lines, count
        empty = repo / "empty"
        empty.mkdir()
        start_wall, start_cpu, _out = run_verify(empty, runs)
        print(
            f"verify, {lines:,} lines ({size / 2**20:.1f} MB): {wall:.2f} s wall, {cpu:.2f} s "
            f"CPU as a process (target < 2 s); of which starting the process (an empty trail) "
            f"{start_wall:.2f} s wall, {start_cpu:.2f} s CPU; the chain alone, in-process, "
            f"{min(chain):.2f} s wall, {min(chain_cpu):.2f} s CPU"
        )
        print("  " + out.splitlines()[0][:120])


def bench_git(commits: int, per_commit: int, calls: int) -> None:
    with tempfile.TemporaryDirectory(prefix="audit-git-") as tmp:
        repo = Path(tmp)
        environ = {
            **os.environ,
            "GIT_AUTHOR_NAME": "bench",
            "GIT_AUTHOR_EMAIL": "bench@example.org",
            "GIT_COMMITTER_NAME": "bench",
            "GIT_COMMITTER_EMAIL": "bench@example.org",
        }

        def git(*args: str) -> None:
            subprocess.run(["git", "-C", str(repo), *args], check=True, env=environ)

        git("init", "-q", "-b", "main")
        prev = GENESIS
        for number in range(commits):
            prev = write_lines(repo / TRAIL, number * per_commit + 1, per_commit, prev, calls)
            git("add", TRAIL)
            git("commit", "-q", "-m", f"ledger: {ENV} after applying {number}")
        size = (repo / TRAIL).stat().st_size
        wall, cpu, out = run_verify(repo, 1)
        print(
            f"verify with git, {commits} committed versions growing to {commits * per_commit:,} "
            f"lines ({size / 2**20:.1f} MB): {wall:.2f} s wall, {cpu:.2f} s CPU (git's own "
            "not counted)"
        )
        print("  " + out.splitlines()[1][:120])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", default="0,1000,10000,100000")
    parser.add_argument("--appends", type=int, default=30)
    parser.add_argument("--verify-lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--per-commit", type=int, default=200)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args()
    print(f"append: {args.appends} appends of {args.calls} calls each, per trail length")
    print(f"{'lines':>9} {'MB':>9} {'median ms':>10} {'max ms':>9} {'bytes read':>10}")
    for lines in (int(n) for n in args.lines.split(",")):
        bench_append(lines, args.appends, args.calls)
    bench_verify(args.verify_lines, args.runs, args.calls)
    if args.commits:
        bench_git(args.commits, args.per_commit, args.calls)


if __name__ == "__main__":
    main()

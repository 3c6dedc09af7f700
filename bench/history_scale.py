"""How fast `reconciler history` is on a large ledger with a long git history.

Run: `.venv/bin/python bench/history_scale.py [--records 10000] [--commits 500] [--sample 20]`

It builds (with `git fast-import`, in a temporary folder) a repository of N organization files
and a `ledger/development.json` of N records committed C times, each commit re-applying 20
random records (their entries change, as a sync's do); one record, the one whose history is
asked, is also changed in its file and re-applied every 50 commits. Then it measures:

- history: `reconciler history OID --format json` through the real console script, cold, the
  fastest of --repeat runs; and, in-process, how many ledger versions it read;
- full scan (for comparison): reading the ledger at every commit and parsing it whole
  (`json.loads`), the obvious way, timed on --sample versions and scaled to C.

Target: history in a few seconds at 10,000 records and 500 commits; far below the full scan.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GATEWAY = "2.16.840.1.113883.3.6147.458.2"
ROOT = "2.16.840.1.113883.3.6147.458.999"
TARGET = 7  # the record whose history is asked
TARGET_EVERY = 50


def org_yaml(n: int, city: str) -> str:
    return (
        f"oid: {ROOT}.{n}\nname: Facility {n}\nactive: true\ntype: Implementer\n"
        f"part_of: {GATEWAY}\ncontacts:\n  - purpose: Technical\n    name: Interop Team\n"
        "    email_addresses: [interop@example.org]\n    phone_number: {work: '+16085550100'}\n"
        f"address:\n  street_address: {n} Main St\n  city: {city}\n  state: WI\n"
        "  zip: '53703'\n  country: USA\n"
    )


def entry(n: int, revision: int, when: str, commit: str) -> dict[str, object]:
    oid = f"{ROOT}.{n}"
    payload = {
        "Name": f"Facility {n}",
        "Active": True,
        "Identifiers": [{"ID": oid, "IDType": "OID"}],
        "Type": {"Value": "Implementer"},
        "PartOf": {"Identifier": {"Value": GATEWAY}},
        "Contacts": [
            {
                "Purpose": "Technical",
                "Name": "Interop Team",
                "EmailAddresses": ["interop@example.org"],
                "PhoneNumber": {"Work": "+16085550100"},
            }
        ],
        "Address": {
            "StreetAddress": f"{n} Main St",
            "City": f"City {revision}",
            "State": "WI",
            "ZIP": "53703",
            "Country": "USA",
        },
    }
    return {
        "kind": "organization",
        "identity": oid,
        "envelope": {"Directory": "Carequality"},
        "payload": payload,
        "digest": f"{n:032x}{revision:032x}",
        "source": f"orgs/facility-{n:05d}.yaml",
        "commit": commit,
        "applied_at": when,
        "status": "active",
    }


def build(root: Path, records: int, commits: int) -> None:
    """The repository, written through one `git fast-import` (deltas, no loose objects)."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    rng = random.Random(1)
    texts: dict[str, str] = {}
    revisions = [0] * records
    importer = subprocess.Popen(
        ["git", "-C", str(root), "fast-import", "--quiet"], stdin=subprocess.PIPE
    )
    assert importer.stdin is not None
    write = importer.stdin.write

    def blob(path: str, data: bytes) -> None:
        write(f"M 100644 inline {path}\ndata {len(data)}\n".encode() + data + b"\n")

    for c in range(commits):
        touched = list(range(records)) if c == 0 else rng.sample(range(records), 20)
        target_turn = c % TARGET_EVERY == 0
        if target_turn and TARGET not in touched:
            touched.append(TARGET)
        when = f"2024-01-{1 + c // 1440:02d}T{(c // 60) % 24:02d}:{c % 60:02d}:00Z"
        for n in touched:
            revisions[n] += 1
            key = f"organization:{ROOT}.{n}"
            body = json.dumps(entry(n, revisions[n], when, f"{c:040x}"), indent=2, sort_keys=True)
            texts[key] = f"    {json.dumps(key)}: " + body.replace("\n", "\n    ")
        ledger = (
            '{\n  "environment": "development",\n  "intents": {},\n  "lineage": "bench",\n'
            '  "records": {\n'
            + ",\n".join(texts[k] for k in sorted(texts))
            + f'\n  }},\n  "serial": {c + 1},\n  "version": 1\n}}\n'
        )
        message = f"reconciler: apply development ({c})\n".encode()
        write(b"commit refs/heads/main\n")
        write(f"committer Bench <bench@example.org> {1_700_000_000 + c * 60} +0000\n".encode())
        write(f"data {len(message)}\n".encode() + message)
        if c == 0:
            for n in range(records):
                blob(f"orgs/facility-{n:05d}.yaml", org_yaml(n, "City 1").encode())
        elif target_turn:
            blob(f"orgs/facility-{TARGET:05d}.yaml", org_yaml(TARGET, f"City {c}").encode())
        blob("ledger/development.json", ledger.encode())
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", "-C", str(root), "checkout", "-q", "main"], check=True)


def time_cli(root: Path, repeat: int) -> tuple[float, dict[str, object]]:
    best = float("inf")
    document: dict[str, object] = {}
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "reconciler",
                "--repo",
                str(root),
                "history",
                f"{ROOT}.{TARGET}",
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            check=False,
            env={k: v for k, v in os.environ.items() if not k.startswith("REDOX_")},
        )
        best = min(best, time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"history failed: {done.stderr}")
        document = json.loads(done.stdout)
    return best, document


def versions_read(root: Path) -> int:
    """How many ledger versions one history reads (counted in-process)."""
    from reconciler import reconcile
    from reconciler.git import reader as git
    from reconciler.reconcile.workspace import Workspace

    count = 0
    original = git.Blobs.read

    def counting(self: git.Blobs, commit: str, path: str) -> bytes | None:
        nonlocal count
        if path.startswith("ledger/"):
            count += 1
        return original(self, commit, path)

    git.Blobs.read = counting  # type: ignore[method-assign]
    try:
        reconcile.history(Workspace(root, "development"), f"{ROOT}.{TARGET}")
    finally:
        git.Blobs.read = original  # type: ignore[method-assign]
    return count


def full_scan(root: Path, sample: int, commits: int) -> float:
    """Seconds to read and parse the ledger at every commit, from a sample of them."""
    shas = subprocess.run(
        ["git", "-C", str(root), "log", "--format=%H", "--", "ledger/development.json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    chosen = shas[:: max(1, len(shas) // sample)][:sample]
    start = time.perf_counter()
    for sha in chosen:
        raw = subprocess.run(
            ["git", "-C", str(root), "show", f"{sha}:ledger/development.json"],
            capture_output=True,
            check=True,
        ).stdout
        json.loads(raw)
    return (time.perf_counter() - start) / len(chosen) * commits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--commits", type=int, default=500)
    parser.add_argument("--sample", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="history-bench-") as folder:
        root = Path(folder) / "records"
        start = time.perf_counter()
        build(root, args.records, args.commits)
        size = (root / "ledger/development.json").stat().st_size
        print(
            f"built {args.records} records x {args.commits} commits in "
            f"{time.perf_counter() - start:.0f}s; ledger {size / 1e6:.1f} MB"
        )
        seconds, document = time_cli(root, args.repeat)
        events = document["events"]
        assert isinstance(events, list)
        applied = sum(1 for e in events if e["type"] == "applied")
        changed = sum(1 for e in events if e["type"] == "file")
        print(
            f"history: {seconds:.2f}s (fastest of {args.repeat}, whole CLI); "
            f"{changed} file commits, {applied} ledger commits found"
        )
        print(f"ledger versions read: {versions_read(root)} of {args.commits}")
        estimate = full_scan(root, args.sample, args.commits)
        print(
            f"full scan (parse the whole ledger at every commit): ~{estimate:.0f}s "
            f"(from {args.sample} versions), {estimate / seconds:.0f}x slower"
        )


if __name__ == "__main__":
    main()

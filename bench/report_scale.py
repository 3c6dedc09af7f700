"""How `reconciler report` scales: the time to write the page of N records over three
environments against `status --format json` on the same repository, the page's size, and how it
behaves in Chromium (loading from file://, and the filter answering as one types).

Run: `.venv/bin/python bench/report_scale.py [--records 10000] [--edits 3] [--repeat 3]`

The repository is plan_scale.py's (N organization files of about 25 lines under five parents),
in git: one commit adds the files; development and staging have every record applied,
production nine in ten; then --edits commits each change the city of 1% of the files, each
applied to development and its ledger committed, so the records have a history to show.
Measured, each the best of --repeat fresh processes (CPU is user + system; other load on the
machine only ever adds to it):

- status: `reconciler status --format json`; report: `reconciler report --out DIR`;
- the page: its size; Chromium (Debian's, through Playwright: tests/browser.py) loading it
  from file:// until the load event and one frame after it (wall), and the renderer's main
  thread CPU meanwhile; typing in the filter: from the input event to the next frame, for a
  few queries (narrow, broad, none, and clearing), the slowest shown.

Targets (issue 24): report <= 2x status, page < 10 MB, loaded in < 3 s, filter < 200 ms.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from browser import chromium, missing
from plan_scale import Run, edit_share, measure, reconciler_command, write_repo

SETTINGS = """environments:
  development:
    ledger: ledger/development.json
  staging:
    ledger: ledger/staging.json
    organization_destination: a07afe3b-d247-4415-827f-6837707e1b8b
  production:
    ledger: ledger/production.json
"""
QUERIES = ("facility 12", "pending", "madison", "zzz-no-match", "")


def git(root: Path, *args: str, author: str = "Ana Lima") -> None:
    identity = ["-c", f"user.name={author}", "-c", "user.email=a@example.org"]
    subprocess.run(
        ["git", "-C", str(root), *identity, *args],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def apply_all(root: Path, env: str, *, share: float = 1.0) -> None:
    """Record `share` of the plan's changes in the environment's ledger, as apply would."""
    from reconciler import reconcile
    from reconciler.kinds import kind_of
    from reconciler.ledger import model as ledgers
    from reconciler.reconcile.workspace import Workspace

    ws = Workspace(root, env)
    current = ws.ledger()
    changes = reconcile.plan(ws).changes
    keep = max(1, round(len(changes) * share))
    for change in changes[:keep]:
        entry = ledgers.make_entry(
            kind=change.kind,
            identity=change.identity,
            envelope=change.envelope,
            payload=change.after,
            active=kind_of(change.kind).is_active(change.after),
            source=change.source,
            commit=None,
        )
        current = current.with_entry(change.key, entry)
    ws.ledger_store.save(current)


def build(root: Path, records: int, edits: int) -> None:
    write_repo(root, records)
    (root / "reconciler.yaml").write_text(SETTINGS, encoding="utf-8")
    (root / ".gitignore").write_text(".reconciler/\nsite/\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "Add the Northwind records")
    for env, share in (("development", 1.0), ("staging", 1.0), ("production", 0.9)):
        apply_all(root, env, share=share)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "reconciler: apply development, staging, production", author="bot")
    for edit in range(edits):
        edit_share(root, 0.01, city=f"Verona {edit}")
        git(root, "commit", "-qam", f"Move 1% of the facilities ({edit})", author="Bo Chen")
        apply_all(root, "development")
        git(root, "commit", "-qam", "reconciler: apply development", author="bot")


def browse(page_path: Path, repeat: int) -> dict[str, Any]:
    """Chromium's load of the page and its filter, the best of `repeat` loads."""
    found: dict[str, Any] = {"load": float("inf"), "cpu": float("inf"), "filter": {}}
    with chromium() as browser:
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")

            def thread_time(cdp: Any = cdp) -> float:
                metrics = cdp.send("Performance.getMetrics")["metrics"]
                return float(next(m["value"] for m in metrics if m["name"] == "ThreadTime"))

            before = thread_time()
            start = time.perf_counter()
            page.goto(page_path.as_uri(), wait_until="load", timeout=120_000)
            page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))")
            found["load"] = min(found["load"], time.perf_counter() - start)
            found["cpu"] = min(found["cpu"], thread_time() - before)
            page.wait_for_timeout(500)  # the filter's index is built after the load
            for query in QUERIES:
                ms = page.evaluate(
                    """(q) => new Promise(resolve => {
                        const input = document.getElementById("filter");
                        const start = performance.now();
                        input.value = q;
                        input.dispatchEvent(new Event("input", {bubbles: true}));
                        requestAnimationFrame(() => setTimeout(
                            () => resolve(performance.now() - start)));
                    })""",
                    query,
                )
                label = query or "(clear)"
                found["filter"][label] = min(found["filter"].get(label, float("inf")), ms)
            page.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--edits", type=int, default=3, help="commits that edit 1%% each")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="report-scale-") as folder:
        root = Path(folder) / "records"
        root.mkdir()
        started = time.perf_counter()
        build(root, args.records, args.edits)
        print(
            f"built {args.records} records, {args.edits} edits, in "
            f"{time.perf_counter() - started:.0f}s",
            flush=True,
        )
        cli = [*reconciler_command(), "--repo", str(root)]
        measure([*cli, "status", "--format", "json"])  # fills the parse cache, as a CI run's
        status: Run = measure([*cli, "status", "--format", "json"], repeat=args.repeat)
        site = root / "site"
        report: Run = measure([*cli, "report", "--out", str(site)], repeat=args.repeat)
        size = (site / "index.html").stat().st_size
        print(f"{'':8} {'CPU s':>7} {'wall s':>7} {'peak MB':>8}")
        for name, run in (("status", status), ("report", report)):
            print(f"{name:8} {run.cpu:>7.2f} {run.wall:>7.2f} {run.mb:>8.0f}")
        print(f"report / status (CPU): {report.cpu / status.cpu:.2f}x  (target <= 2x)")
        print(f"page: {size / 1e6:.2f} MB  (target < 10 MB)")
        figures: dict[str, Any] = {
            "records": args.records,
            "status": status.__dict__,
            "report": report.__dict__,
            "ratio": report.cpu / status.cpu,
            "page_bytes": size,
        }
        reason = missing()
        if reason is not None:
            print(f"Chromium not measured: {reason}")
        else:
            seen = browse(site / "index.html", args.repeat)
            print(
                f"Chromium: loaded in {seen['load']:.2f}s wall, {seen['cpu']:.2f}s main-thread "
                "CPU  (target < 3 s)"
            )
            slowest = max(seen["filter"].values())
            detail = ", ".join(f"{q!r} {ms:.0f}" for q, ms in seen["filter"].items())
            print(f"filter: slowest {slowest:.0f} ms  ({detail} ms)  (target < 200 ms)")
            figures["chromium"] = seen
        print(json.dumps(figures), file=sys.stderr)


if __name__ == "__main__":
    main()

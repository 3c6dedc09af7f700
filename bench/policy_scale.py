"""What 200 policies add to `reconciler plan` (issue 21: at most 10%).

Run: `.venv/bin/python bench/policy_scale.py [--sizes 10000] [--repeat 3] [--policies 200]`

For each size N it writes plan_scale.py's N organization files, fills the ledger with them and
the plan cache, then measures the pull request's case: 1% of the files edited (one field each,
new text every run, so the edited files are never cached), `reconciler plan --format json
--detailed-exitcode`, in a fresh process each time, in three cases taken in turn:

- none: no policies in reconciler.yaml;
- cold: --policies of them, the compiled policies not kept (`.reconciler/cache/policies.json`
  removed before the run): celpy is imported and parses every expression;
- warm: the same with the compiled policies kept by an earlier run: no celpy, no parse.

The record files' plan cache is kept in every case (policies do not key it). The policies are a
realistic mix, each its own text (none shares a parse): destination IDs (advisory, so the plan
can show every violation), contact e-mail domains of what changed (soft), deactivation and
parent moves (soft, with a guard), and a count of deactivations.

Printed: the least CPU and wall seconds of --repeat runs of each, what the policies add (ms and
percent of the plan without them), and (in-process, one plan each, CPU seconds) where their time
goes: cold (import celpy, parse and compile, evaluate) and warm (read the kept forms and build
their closures, evaluate).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plan_scale import (  # the same repository, ledger filling and measuring
    FILL_LEDGER,
    Run,
    _run,
    edit_share,
    measure,
    reconciler_command,
    write_repo,
)

TEMPLATES = [
    (
        "advisory",
        'change.kind == "organization" && change.action in ["create", "update"] && '
        "(!has(change.after.DestinationID) || change.after.DestinationID == null "
        '|| change.after.DestinationID == "retired-{i}")',
    ),
    (
        "soft",
        'change.kind == "organization" && (change.action == "create" || '
        'change.fields.exists(f, f.startsWith("Contacts"))) && change.after.Contacts.exists(c, '
        'c.EmailAddresses.exists(e, !e.endsWith("@northwind-health{i}.example")))',
    ),
    ("soft", 'change.action == "deactivate" && change.after.Name != "Closed {i}"'),
    (
        "soft",
        'change.action == "update" && change.fields.exists(f, f.startsWith("PartOf")) && '
        'change.before.PartOf.Identifier.Value != "{i}"',
    ),
    ("advisory", "plan.deactivate > {i} + 10"),
]

IN_PROCESS = """
import sys, time
from pathlib import Path
from reconciler import reconcile
from reconciler.reconcile.workspace import Workspace
from reconciler.policy import evaluate
ws = Workspace(repo=Path(sys.argv[1]), env_name="sandbox", cache=sys.argv[2] == "warm")
plan = reconcile.plan(ws)
ws.settings
t0 = time.process_time()
if sys.argv[2] == "cold":
    import celpy
t1 = time.process_time()
compiled = reconcile.planning.compiled_policies(ws)
t2 = time.process_time()
results = evaluate(compiled, plan)
t3 = time.process_time()
count = sum(len(r.violations) for r in results)
print(len(plan.changes), f"{t1 - t0:.3f}", f"{t2 - t1:.3f}", f"{t3 - t2:.3f}", count,
      "celpy" in sys.modules)
"""

CASES = ("none", "cold", "warm")


def policies_yaml(count: int) -> str:
    lines = ["policies:"]
    for i in range(count):
        level, deny = TEMPLATES[i % len(TEMPLATES)]
        lines += [
            f"  - name: policy-{i:03d}",
            f"    level: {level}",
            f"    deny: {json.dumps(deny.replace('{i}', str(i)))}",
            f"    message: Policy {i} says no.",
        ]
        if level == "soft":
            lines.append('    approvers: ["@northwind/directory-admins"]')
    return "\n".join(lines) + "\n"


def run_size(count: int, *, policies: int, repeat: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="policy-scale-") as tmp:
        root = Path(tmp)
        write_repo(root, count)
        plan = [*reconciler_command(), "--repo", tmp, "plan"]
        out = root / "plan.json"
        measure([*plan, "--out", str(out)])
        ledger = root / ".reconciler" / "sandbox" / "ledger.json"
        measure([sys.executable, "-c", FILL_LEDGER, str(out), str(ledger)])
        out.unlink()
        changed = [*plan, "--format", "json", "--detailed-exitcode"]
        measure(changed)  # the cache holds every file as it is
        settings = root / "reconciler.yaml"
        kept = root / ".reconciler" / "cache" / "policies.json"
        rules = policies_yaml(policies)
        settings.write_text(rules, encoding="utf-8")
        measure(changed)  # compiles the policies, and keeps them
        runs: dict[str, list[Run]] = {case: [] for case in CASES}
        for attempt in range(repeat):
            order = CASES if attempt % 2 == 0 else tuple(reversed(CASES))
            for case in order:
                settings.write_text(rules if case != "none" else "", encoding="utf-8")
                if case == "cold":
                    kept.unlink(missing_ok=True)
                elif case == "warm" and not kept.exists():
                    measure(changed)
                edit_share(root, 0.01, city=f"Verona {case} {attempt}")
                runs[case].append(_run(changed))
        settings.write_text(rules, encoding="utf-8")
        done = {case: _in_process(root, case) for case in ("cold", "warm")}
    best = {case: min(found, key=lambda r: r.cpu) for case, found in runs.items()}
    return {"n": count, **best, "breakdown": done}


def _in_process(root: Path, case: str) -> list[str]:
    import subprocess

    out = subprocess.run(
        [sys.executable, "-c", IN_PROCESS, str(root), case],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000", help="comma-separated file counts")
    parser.add_argument("--policies", type=int, default=200, help="policies in reconciler.yaml")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the fastest counts")
    args = parser.parse_args()
    print(
        f"{'N':>7} {'case':>5} {'policies':>8} {'CPU s':>7} {'wall s':>7} {'peak MB':>8} "
        f"{'+CPU ms':>8} {'+CPU':>7} {'+wall ms':>8}",
        flush=True,
    )
    rows = []
    for count in [int(s) for s in args.sizes.split(",") if s]:
        found = run_size(count, policies=args.policies, repeat=args.repeat)
        none = found["none"]
        assert isinstance(none, Run)
        for case in CASES:
            run = found[case]
            assert isinstance(run, Run)
            label = "0" if case == "none" else str(args.policies)
            extra = ""
            if case != "none":
                extra = (
                    f"{(run.cpu - none.cpu) * 1000:>8.0f} {(run.cpu / none.cpu - 1) * 100:>6.1f}% "
                    f"{(run.wall - none.wall) * 1000:>8.0f}"
                )
            print(
                f"{count:>7} {case:>5} {label:>8} {run.cpu:>7.2f} {run.wall:>7.2f} "
                f"{run.mb:>8.0f} {extra}",
                flush=True,
            )
        breakdown = found["breakdown"]
        assert isinstance(breakdown, dict)
        for case, numbers in breakdown.items():
            changes, imported, compiled, evaluated, violations, celpy = numbers
            start = f"import celpy {imported} s, " if case == "cold" else ""
            what = "parse and compile" if case == "cold" else "read and compile"
            print(
                f"        in process (CPU), {case}, {changes} changes: {start}{what} "
                f"{args.policies} policies {compiled} s, evaluate {evaluated} s "
                f"({violations} violations; celpy loaded: {celpy})",
                flush=True,
            )
        rows.append(
            {
                "n": count,
                **{case: found[case].__dict__ for case in CASES},  # type: ignore[attr-defined]
                "breakdown": breakdown,
            }
        )
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()

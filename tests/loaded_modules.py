"""`reconciler ARGS` in a fresh interpreter, and every module it imported: for the tests that
hold what each command loads (tests/test_startup.py, tests/policy/test_kept_policies.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_RUN = """
import json, sys
from reconciler.cli import main
out, sys.argv = sys.argv[1], ["reconciler", *sys.argv[2:]]
code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code
with open(out, "w") as handle:
    json.dump({"code": code, "modules": sorted(sys.modules)}, handle)
"""


@dataclass(frozen=True)
class Loaded:
    code: int | str | None  # SystemExit's code
    modules: frozenset[str]  # full names
    stdout: str

    @property
    def packages(self) -> set[str]:
        """The top-level packages among the modules."""
        return {m.split(".")[0] for m in self.modules}


def run_loaded(tmp_path: Path, repo: Path, *args: str, timeout: float = 180) -> Loaded:
    out = tmp_path / "loaded.json"
    done = subprocess.run(
        [sys.executable, "-c", _RUN, str(out), "--repo", str(repo), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]  # the probe itself ends normally
    found = json.loads(out.read_text(encoding="utf-8"))
    return Loaded(found["code"], frozenset(found["modules"]), done.stdout)

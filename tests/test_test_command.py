"""The README's test command is the one `.ci/run` runs, and it runs the suite on every core."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]


def _readme_command() -> str:
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    fences = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    return next(f for f in fences if "pip install -q -e '.[dev]'" in f and "pytest" in f)


def test_ci_runs_the_readme_test_command() -> None:
    command = _readme_command()
    script = (PROJECT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in script.splitlines()


def test_the_suite_runs_on_every_core() -> None:
    assert "-n auto" in _readme_command()
    fast = (PROJECT / "README.md").read_text(encoding="utf-8")
    assert '.venv/bin/pytest -q -n auto --dist loadgroup -m "not slow"' in fast

"""The README's test command is the one `.ci/run` runs, and it runs the suite on every core."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconciler.records.pool import available_cpus

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


def test_auto_starts_two_workers_per_core_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, pytestconfig: pytest.Config
) -> None:
    import conftest

    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    assert conftest.pytest_xdist_auto_num_workers(pytestconfig) == 2 * available_cpus()
    # The variable is xdist's: its own hook answers, so ours must stand aside.
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
    assert conftest.pytest_xdist_auto_num_workers(pytestconfig) is None


def test_the_slow_tests_are_handed_out_first() -> None:
    import conftest

    class Item:
        def __init__(self, name: str, slow: bool) -> None:
            self.name, self.slow = name, slow

        def get_closest_marker(self, name: str) -> object | None:
            return object() if name == "slow" and self.slow else None

    items = [Item("a", False), Item("b", True), Item("c", False), Item("d", True)]
    conftest.pytest_collection_modifyitems(items)  # type: ignore[arg-type]
    assert [i.name for i in items] == ["b", "d", "a", "c"]

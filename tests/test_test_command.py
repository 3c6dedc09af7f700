"""The README's test command is the one `.ci/run` runs, and it runs the suite on every core."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Callable
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


def test_bytecode_is_kept_for_the_session_without_writing_into_the_tree(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import session_bytecode

    class Config:  # what the hook reads of pytest's: the controller has no workerinput
        def __init__(self) -> None:
            self.cleanups: list[Callable[[], None]] = []

        def add_cleanup(self, func: Callable[[], None]) -> None:
            self.cleanups.append(func)

    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    monkeypatch.setattr(sys, "pycache_prefix", None)
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    config = Config()
    session_bytecode.share(config)  # type: ignore[arg-type]
    prefix = os.environ["PYTHONPYCACHEPREFIX"]
    try:
        assert "PYTHONDONTWRITEBYTECODE" not in os.environ
        assert sys.pycache_prefix == prefix
        assert not sys.dont_write_bytecode

        # The project's modules are compiled ahead; a subprocess writes what else it imports.
        planning = PROJECT / "reconciler" / "cli" / "planning.py"
        assert Path(importlib.util.cache_from_source(str(planning))).is_file()
        source = Path(sys.modules["json"].__file__ or "").with_name("tool.py")  # not loaded
        cached = Path(importlib.util.cache_from_source(str(source)))
        assert cached.is_relative_to(prefix)
        assert not cached.exists()
        subprocess.run([sys.executable, "-c", "import json.tool"], check=True)
        assert cached.is_file()
    finally:
        for cleanup in config.cleanups:
            cleanup()
    assert not Path(prefix).exists()


def test_bytecode_is_left_alone_where_it_may_be_written(monkeypatch: pytest.MonkeyPatch) -> None:
    import session_bytecode

    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    session_bytecode.share(object())  # type: ignore[arg-type]
    assert session_bytecode.passed_on() == {}
    assert "PYTHONPYCACHEPREFIX" not in os.environ


def test_the_suite_is_collected_without_xdist() -> None:
    """`-p no:xdist` (a debugger's run) must not stop at `xdist_group`, which only xdist knows
    unless pyproject.toml names it too (filterwarnings = error)."""
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider"),
            *("--collect-only", "-q", "tests/test_packaging.py"),
        ],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "xdist_group" not in done.stdout

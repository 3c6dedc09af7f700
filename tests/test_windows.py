"""What can be checked of Windows on any machine: the CLI runs with the POSIX-only modules
missing, atomic writes need no folder fsync there, and ci.yml runs the tests that need no
POSIX signals on a Windows runner."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from sandbox_server import clean_environ, example_repo

from reconciler.formats import atomic

PROJECT = Path(__file__).resolve().parents[1]

# Runs the CLI as `python -m reconciler` would, with fcntl, termios, pty, tty, pwd, grp and
# resource refused as Windows refuses them.
WITHOUT_POSIX = """
import runpy, sys
from importlib.abc import MetaPathFinder
BLOCKED = {"fcntl", "termios", "pty", "tty", "pwd", "grp", "resource"}
class Windows(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
for name in BLOCKED:
    sys.modules.pop(name, None)
sys.meta_path.insert(0, Windows())
sys.argv = ["reconciler", *sys.argv[1:]]
runpy.run_module("reconciler", run_name="__main__")
"""


def _without_posix(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", WITHOUT_POSIX, "--repo", str(repo), *args],
        cwd=repo,
        env=clean_environ({"NO_COLOR": "1"}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_the_cli_validates_plans_and_applies_without_the_posix_only_modules(
    tmp_path: Path,
) -> None:
    repo = example_repo(tmp_path / "repo")
    assert "7 records valid." in _without_posix(repo, "validate")
    assert "Plan: 7 to create" in _without_posix(repo, "plan")
    assert "7 applied" in _without_posix(repo, "apply", "--yes")  # under the lock
    assert "No changes" in _without_posix(repo, "plan")
    assert "7 records" in _without_posix(repo, "show")


def test_an_atomic_write_works_where_a_folder_cannot_be_fsynced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    real_open = os.open

    def windows_open(path: Any, flags: int, *args: Any) -> int:
        if os.path.isdir(path):
            raise PermissionError(13, "Permission denied", str(path))  # as Windows answers
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", windows_open)
    path = tmp_path / "ledger.json"
    atomic.atomic_write(path, ["{", "}\n"])
    assert path.read_text(encoding="utf-8") == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]


def test_ci_runs_the_tests_without_posix_needs_on_windows() -> None:
    document = yaml.safe_load((PROJECT / ".github/workflows/ci.yml").read_text(encoding="utf-8"))
    job = document["jobs"]["windows"]
    assert job["runs-on"].startswith("windows-")
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert 'pytest -ra -n auto --dist loadgroup -m "not posix and not slow"' in runs
    assert "reconciler plan" in runs
    assert "reconciler validate" in runs
    markers = tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = markers["tool"]["pytest"]["ini_options"]["markers"]
    assert any(m.startswith("posix:") for m in declared)

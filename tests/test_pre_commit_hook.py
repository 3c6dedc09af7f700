"""The pre-commit hook in .pre-commit-hooks.yaml: what it declares, and `pre-commit try-repo`
running it in a records repository, failing on a mistake with its file and line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[1]
HOOKS = PROJECT / ".pre-commit-hooks.yaml"
LIMIT = 300.0  # a guard against a hung install, not a measurement
GIT_ENV = {
    "GIT_AUTHOR_NAME": "Dana Developer",
    "GIT_AUTHOR_EMAIL": "dana@northwind-health.example",
    "GIT_COMMITTER_NAME": "Dana Developer",
    "GIT_COMMITTER_EMAIL": "dana@northwind-health.example",
    "GIT_CONFIG_NOSYSTEM": "1",
}
CLINIC = """\
oid: 2.16.840.1.113883.3.6147.458.24601.9
name: Lakeside Clinic
type: Connection
part_of: 2.16.840.1.113883.3.6147.458.2
"""


def hook() -> dict[str, Any]:
    [found] = yaml.safe_load(HOOKS.read_text(encoding="utf-8"))
    assert isinstance(found, dict)
    return found


def test_the_hook_validates_the_whole_repository_when_records_or_settings_change() -> None:
    declared = hook()
    assert declared["id"] == "reconciler-validate"
    assert declared["entry"] == "reconciler validate"
    assert declared["language"] == "python"
    # validate checks every file together (duplicate OIDs, parents), never a list of names.
    assert declared["pass_filenames"] is False
    assert declared["require_serial"] is True
    files = re.compile(declared["files"])
    for path in ("orgs/clinic.yaml", "providers/avery.yaml", "reconciler.yaml"):
        assert files.search(path), path
    for path in ("README.md", "docs/reconciler.yaml", "ledger/production.json", "reconciler.yml"):
        assert not files.search(path), path


def run(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=LIMIT, check=False
    )


@pytest.mark.slow
def test_try_repo_fails_on_a_mistake_with_its_file_and_line_then_passes(tmp_path: Path) -> None:
    if not (PROJECT / ".git").exists():
        pytest.skip("pre-commit try-repo needs this project as a git repository, not an sdist")
    # Nothing from the caller's git or virtualenv leaks in; pre-commit keeps its cache here.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "PRE_COMMIT")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(GIT_ENV, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    records = tmp_path / "records"
    (records / "orgs").mkdir(parents=True)
    shutil.copy(PROJECT / "reconciler.yaml", records / "reconciler.yaml")
    clinic = records / "orgs" / "lakeside-clinic.yaml"
    clinic.write_text(CLINIC + "nmae: Lakeside\n", encoding="utf-8")
    for git in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "Records"]):
        done = run(["git", *git], cwd=records, env=env)
        assert done.returncode == 0, done.stderr
    # try-repo builds the hook's virtualenv and pip-installs this project into it (from the
    # configured index), committing any uncommitted changes of it to a shadow copy first.
    try_repo = [sys.executable, "-m", "pre_commit", "try-repo", str(PROJECT)]
    command = [*try_repo, "reconciler-validate", "--all-files", "--color", "never"]

    failed = run(command, cwd=records, env=env)
    output = failed.stdout + failed.stderr
    assert failed.returncode == 1, output
    assert "reconciler validate" in output
    assert "orgs/lakeside-clinic.yaml:5:" in output
    assert "'nmae'" in output

    clinic.write_text(CLINIC, encoding="utf-8")
    passed = run(command, cwd=records, env=env)
    output = passed.stdout + passed.stderr
    assert passed.returncode == 0, output
    assert re.search(r"reconciler validate\.+Passed", output), output

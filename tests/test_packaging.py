"""What a release ships: one version (pyproject.toml's) everywhere, a LICENSE in the wheel, the
whole test suite in the sdist, and a wheel that installs and runs in a clean venv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import reconciler
from reconciler.cli import cli

PROJECT = Path(__file__).resolve().parents[1]
TESTS = PROJECT / "tests"
LIMIT = 300.0  # a guard against a hung build or install, not a measurement
SKIPPED_PARTS = {"__pycache__", ".pytest_cache", ".hypothesis"}
# One worker builds the distributions once for every test of this module (pytest -n auto
# --dist loadgroup): a build is slow, and each worker would make its own.
pytestmark = pytest.mark.xdist_group("distributions")


def pyproject_version() -> str:
    with (PROJECT / "pyproject.toml").open("rb") as handle:
        found: str = tomllib.load(handle)["project"]["version"]
    return found


def run(args: Sequence[str | Path], *, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run a command to completion, failing with everything it said unless it succeeds."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=LIMIT,
        check=False,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done


# -- one version -----------------------------------------------------------------------------


def test_the_package_reports_the_version_in_pyproject() -> None:
    assert reconciler.__version__ == reconciler.version() == pyproject_version()


def test_version_option_prints_the_distribution_version() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="reconciler")
    assert result.exit_code == 0, result.output
    assert result.output == f"reconciler, version {pyproject_version()}\n"


# -- the built distributions -----------------------------------------------------------------


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path
    log: str  # what the build printed

    def sdist_names(self) -> set[str]:
        """Paths inside the sdist, without its top-level folder."""
        with tarfile.open(self.sdist) as archive:
            return {m.name.partition("/")[2] for m in archive.getmembers() if m.isfile()}

    def sdist_text(self, name: str) -> str:
        with tarfile.open(self.sdist) as archive:
            member = archive.extractfile(f"{archive.getnames()[0].split('/')[0]}/{name}")
            assert member is not None, name
            return member.read().decode("utf-8")

    def wheel_names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as archive:
            return set(archive.namelist())

    def wheel_text(self, suffix: str) -> str:
        with zipfile.ZipFile(self.wheel) as archive:
            [name] = [n for n in archive.namelist() if n.endswith(suffix)]
            return archive.read(name).decode("utf-8")


def metadata_version(text: str) -> str:
    """The Version: header of PKG-INFO or METADATA."""
    return next(
        line.split(":", 1)[1].strip() for line in text.splitlines() if line[:8] == "Version:"
    )


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """The sdist, and the wheel built from it, as `python -m build` makes them for a release."""
    out = tmp_path_factory.mktemp("dist")
    # Built from a copy: setuptools writes its egg-info next to the sources, and the checkout
    # is not the tests' to write in (another test, or another run of the suite, reads it).
    source = tmp_path_factory.mktemp("source") / "project"
    local = (".git", ".venv", ".reconciler", "build", "dist", "*.egg-info", ".*_cache")
    shutil.copytree(PROJECT, source, ignore=shutil.ignore_patterns(*local, *SKIPPED_PARTS))
    done = run([sys.executable, "-m", "build", "--outdir", out, source], cwd=out)
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return Dists(sdist, wheel, done.stdout + done.stderr)


def project_files(folder: str) -> set[str]:
    """The files under `folder` of this checkout that a distribution should carry."""
    return {
        path.relative_to(PROJECT).as_posix()
        for path in (PROJECT / folder).rglob("*")
        if path.is_file()
        and not SKIPPED_PARTS.intersection(path.relative_to(PROJECT).parts)
        and path.suffix not in (".pyc", ".pyo")
    }


@pytest.mark.slow
def test_the_sdist_carries_the_whole_test_suite_and_what_it_reads(dists: Dists) -> None:
    names = dists.sdist_names()
    tests = {name for name in names if name.startswith("tests/")}
    assert tests == project_files("tests")
    assert {"tests/conftest.py", "tests/golden/plan_text.txt"} <= tests
    assert {p.relative_to(PROJECT).as_posix() for p in TESTS.glob("test_*.py")} <= tests
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    # The suite copies the example repository and checks the workflows.
    for folder in ("orgs", "providers", ".github/workflows"):
        assert project_files(folder) <= names, folder
    assert {"reconciler.yaml", "LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml"} <= names
    assert {".pre-commit-hooks.yaml", "action.yml"} <= names
    assert "reconciler/templates/requirements.txt" in names
    assert metadata_version(dists.sdist_text("PKG-INFO")) == pyproject_version()
    assert dists.sdist.name == f"redox_reconciler-{pyproject_version()}.tar.gz"


@pytest.mark.slow
def test_the_wheel_carries_the_license_and_the_package_only(dists: Dists) -> None:
    names = dists.wheel_names()
    # init writes its files from these templates.
    assert {"reconciler/templates/requirements.txt", "reconciler/templates/workflows/sync.yml"} <= (
        names
    )
    dist_info = f"redox_reconciler-{pyproject_version()}.dist-info"
    assert f"{dist_info}/licenses/LICENSE" in names
    assert "MIT License" in dists.wheel_text("/licenses/LICENSE")
    assert {"reconciler/__init__.py", "reconciler/cli/__init__.py", "reconciler/py.typed"} <= names
    assert {name.split("/")[0] for name in names} == {"reconciler", dist_info}
    metadata = dists.wheel_text(".dist-info/METADATA")
    assert metadata_version(metadata) == pyproject_version()
    assert "License-Expression: MIT" in metadata.splitlines()


@pytest.mark.slow
def test_the_build_raises_no_license_deprecation(dists: Dists) -> None:
    # setuptools warns about `license = {text = ...}` and classifiers that PEP 639 replaced.
    deprecations = [line for line in dists.log.splitlines() if "deprecat" in line.lower()]
    assert deprecations == []
    assert "license" not in " ".join(
        line.lower() for line in dists.log.splitlines() if "warning" in line.lower()
    )


@pytest.mark.slow
def test_the_wheel_installs_and_runs_in_a_clean_venv(dists: Dists, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    bin_dir = venv / "bin"
    # Dependencies come from the configured index, as for anyone who installs the release.
    run([bin_dir / "python", "-m", "pip", "install", "-q", dists.wheel], cwd=tmp_path)
    location = run(
        [bin_dir / "python", "-c", "import reconciler; print(reconciler.__file__)"], cwd=tmp_path
    ).stdout
    assert Path(location.strip()).is_relative_to(venv), location
    version = run([bin_dir / "reconciler", "--version"], cwd=tmp_path).stdout
    assert version == f"reconciler, version {pyproject_version()}\n"
    run([bin_dir / "reconciler", "--repo", PROJECT, "validate"], cwd=tmp_path)
    # The installed wheel starts a records repository from its own templates, which validates.
    run([bin_dir / "reconciler", "init", tmp_path / "records"], cwd=tmp_path)
    run([bin_dir / "reconciler", "validate"], cwd=tmp_path / "records")
    sync = (tmp_path / "records" / ".github" / "workflows" / "sync-environment.yml").read_text()
    assert f'redox-reconciler=={pyproject_version()}"' in sync

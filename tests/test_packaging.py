"""What a release ships: one version, pyproject.toml's, everywhere."""

from __future__ import annotations

import tomllib
from pathlib import Path

from click.testing import CliRunner

import reconciler
from reconciler.cli import cli

PROJECT = Path(__file__).resolve().parents[1]


def pyproject_version() -> str:
    with (PROJECT / "pyproject.toml").open("rb") as handle:
        found: str = tomllib.load(handle)["project"]["version"]
    return found


# -- one version -----------------------------------------------------------------------------


def test_the_package_reports_the_version_in_pyproject() -> None:
    assert reconciler.__version__ == reconciler.version() == pyproject_version()


def test_version_option_prints_the_distribution_version() -> None:
    result = CliRunner().invoke(cli, ["--version"], prog_name="reconciler")
    assert result.exit_code == 0, result.output
    assert result.output == f"reconciler, version {pyproject_version()}\n"

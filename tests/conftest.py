"""Shared fixtures: repositories written to disk (tests/factories.py builds them), the CLI run
in-process, and where rendered diagrams are kept."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import session_bytecode
from click.testing import CliRunner, Result
from factories import Repo, organization, repository

from reconciler.cli import cli
from reconciler.cli.base import BUG
from reconciler.records.pool import available_cpus

MAIN = Path(__file__).resolve().parents[1]
# Workers per available CPU for `-n auto`: about 40% of the suite's time is spent waiting (on
# the CLI's subprocesses, servers answering with latency, a rate limit, a kill's instant), so
# one worker per core leaves the cores idle that long (README, "Tests").
WORKERS_PER_CPU = 2


@pytest.hookimpl(optionalhook=True)  # xdist's hook: pytest -p no:xdist still runs
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto`: WORKERS_PER_CPU workers per CPU this process may run on
    ($PYTEST_XDIST_AUTO_NUM_WORKERS, as for xdist itself, sets the number)."""
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if chosen:
        return None  # xdist's own hook reads it
    return WORKERS_PER_CPU * available_cpus()


def pytest_configure(config: pytest.Config) -> None:
    """Under PYTHONDONTWRITEBYTECODE, the session's processes share one bytecode folder
    (tests/session_bytecode.py)."""
    session_bytecode.share(config)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first (a stable sort: otherwise in the order collected), so that the
    minute-long ones overlap the rest of the suite instead of trailing it on one worker."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def repo(tmp_path: Path) -> Callable[..., Repo]:
    """Factory of repositories: repo(orgs={"a": mapping_or_text}, settings=mapping_or_text,
    example=True), each in a folder of its own (factories.repository)."""
    counter = itertools.count()

    def make(
        orgs: Mapping[str, Any] | None = None,
        *,
        settings: str | Mapping[str, Any] | None = None,
        example: bool = False,
    ) -> Repo:
        return repository(
            tmp_path / f"repo{next(counter)}", orgs, settings=settings, example=example
        )

    return make


@pytest.fixture
def org() -> Callable[..., dict[str, Any]]:
    """factories.organization as a fixture: org(3, parent=oid, name="X", address=OMIT)."""
    return organization


@pytest.fixture
def run_cli() -> Callable[..., Result]:
    """Run the `reconciler` group in-process: run_cli("plan", "--format", "json", repo=r).
    REDOX_ENV is unset unless `env` sets it."""

    def run(
        *args: str,
        repo: Repo | Path | None = None,
        env: Mapping[str, str | None] | None = None,
        input: str | None = None,
    ) -> Result:
        argv = list(args)
        if repo is not None:
            root = repo.root if isinstance(repo, Repo) else repo
            argv = ["--repo", str(root), *argv]
        variables = {"REDOX_ENV": None, "NO_COLOR": "1", **(env or {})}
        result = CliRunner().invoke(cli, argv, env=variables, input=input)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception  # a traceback is always a bug: fail with it
        assert "Traceback" not in result.output
        # The CLI's catch-all turns an unexpected exception into a report: still a bug.
        assert BUG not in result.output, result.output
        return result

    return run


@pytest.fixture
def artifacts(tmp_path: Path) -> Iterator[Path]:
    """A folder of the test's own for rendered diagrams; when the test ends, they are copied
    for people to look at into $TEST_ARTIFACTS or .reconciler/test-artifacts/, each file
    replaced whole (a test never reads a file that another run of the suite is writing)."""
    own = tmp_path / "artifacts"
    own.mkdir()
    yield own
    folder = os.environ.get("TEST_ARTIFACTS")
    shown = Path(folder) if folder else MAIN / ".reconciler" / "test-artifacts"
    shown.mkdir(parents=True, exist_ok=True)
    for made in own.iterdir():
        if made.is_file():
            partial = shown / f".{made.name}.{os.getpid()}"
            shutil.copyfile(made, partial)
            os.replace(partial, shown / made.name)

"""The CLI in-process against a repository whose `sandbox` environment keeps its directory on
disk: runs, the directory and its request log as tests look at them, and `sandbox serve` with
its credential file for the real HTTP path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from factories import PARENT
from redox_schemas import assert_valid_bodies

from reconciler.cli import cli
from reconciler.sandbox.app import Sandbox

ROOT = Path(__file__).resolve().parents[1]


CLINIC = f"{PARENT}.1"  # orgs/madison-east-clinic.yaml


ROCHESTER = f"{PARENT}.3"  # orgs/rochester-specialty-center.yaml


DUBUQUE = f"{PARENT}.4"  # orgs/dubuque-urgent-care.yaml (active: false)


# The variables a developer might have set that would point a command somewhere else.
CLEAN_ENV: dict[str, str | None] = {
    name: None
    for name in (
        "REDOX_ENV",
        "REDOX_BASE_URL",
        "REDOX_SOURCE_ID",
        "REDOX_CLIENT_ID",
        "REDOX_KEY_ID",
        "REDOX_PRIVATE_KEY",
        "REDOX_PRIVATE_KEY_FILE",
    )
}


STARTUP_LIMIT = 20.0


def run(repo: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """The CLI in-process, against `repo`."""
    return CliRunner().invoke(cli, [*args, "--repo", str(repo)], env={**CLEAN_ENV, **(env or {})})


def ok(repo: Path, *args: str, code: int = 0, env: dict[str, str] | None = None) -> Result:
    result = run(repo, *args, env=env)
    assert result.exit_code == code, f"{args}: exit {result.exit_code}\n{result.output}"
    return result


def json_of(
    repo: Path, *args: str, code: int = 0, env: dict[str, str] | None = None
) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(repo, *args, "--format", "json", code=code, env=env).stdout)
    return doc


def actions(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["action"], c["identity"]) for c in plan["changes"]]


def fields_of(change: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(f["path"], f["before"], f["after"]) for f in change["fields"]]


def sandbox_dir(repo: Path) -> Path:
    return repo / ".reconciler" / "sandbox"


def sandbox(repo: Path) -> Sandbox:
    """The repository's sandbox directory as the `sandbox` environment keeps it on disk."""
    return Sandbox(data_dir=sandbox_dir(repo))


def behind_the_back(repo: Path, oid: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change one record in the directory the way another client would."""
    box = sandbox(repo)
    record = box.organizations()[oid]
    edit(record)
    box.put_organization(record)


def logged(repo: Path) -> list[dict[str, Any]]:
    """The sandbox's request log (requests.jsonl), oldest first."""
    path = sandbox_dir(repo) / "requests.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def events(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["data_model"], e["event_type"]) for e in entries if e["path"] == "/endpoint"]


def assert_logged_bodies_valid(entries: list[dict[str, Any]]) -> None:
    bodies = [e["body"] for e in entries if e["path"] == "/endpoint"]
    assert bodies, "the sandbox logged no request"
    assert all(isinstance(b, dict) for b in bodies)
    assert_valid_bodies(bodies)


@dataclass
class Served:
    """A `reconciler sandbox serve` process, its data folder and its credential variables."""

    process: subprocess.Popen[bytes]
    data: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return self.env["REDOX_BASE_URL"]


@contextmanager
def served(data: Path) -> Iterator[Served]:
    """`reconciler sandbox serve --port 0 --data DATA` in a subprocess, until the block ends."""
    data.mkdir(parents=True)
    log = (data.parent / f"{data.name}.stderr").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--data",
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        env={k: v for k, v in os.environ.items() if not k.startswith("REDOX_")},
    )
    try:
        credentials = data / "credentials.env"
        deadline = time.monotonic() + STARTUP_LIMIT
        while not credentials.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"sandbox serve did not start: {log.name}")
            time.sleep(0.05)
        env = dict(
            line.split("=", 1) for line in credentials.read_text(encoding="utf-8").splitlines()
        )
        yield Served(process, data, env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def cli_process(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: a new process with the credential file's variables set."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("REDOX_")}
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args, "--repo", str(repo)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

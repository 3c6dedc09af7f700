"""Shared fixtures: repositories written to disk from mappings or text, valid organization
mappings, the CLI run in-process, and a ledger settled to match the files (as apply leaves it)."""

from __future__ import annotations

import copy
import itertools
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler import reconcile
from reconciler.cli import cli
from reconciler.cli.base import BUG
from reconciler.formats import yamltext
from reconciler.kinds import kind_of
from reconciler.ledger import model as ledgers
from reconciler.ledger import store as ledger_store
from reconciler.plan.model import Plan
from reconciler.reconcile.workspace import Workspace

GATEWAY = "2.16.840.1.113883.3.6147.458.2"
BASE_OID = "2.16.840.1.113883.3.6147.458.777"
MAIN = Path(__file__).resolve().parents[1]
EXAMPLE_ORGS = MAIN / "orgs"
EXAMPLE_SETTINGS = MAIN / "reconciler.yaml"

OMIT: Any = object()  # org(name=OMIT) leaves the key out


def dump(data: Any) -> str:
    """YAML text of a mapping, keys in the order given (YAML 1.1 words such as `y` quoted)."""
    return yamltext.dump(data, sort_keys=False, allow_unicode=True)


def make_org(number: int = 1, *, parent: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid organization mapping; `fields` override (OMIT removes a key)."""
    oid = f"{parent or BASE_OID}.{number}"
    data: dict[str, Any] = {
        "oid": oid,
        "name": f"Test Facility {number}",
        "active": True,
        "type": "Implementer",
        "part_of": parent or GATEWAY,
        "contacts": [
            {
                "purpose": "Technical",
                "name": "Interop Team",
                "email_addresses": ["interop@example.org"],
                "phone_number": {"work": "+16085550100"},
            }
        ],
        "address": {
            "street_address": "1 Main St",
            "city": "Madison",
            "state": "WI",
            "zip": "53703",
            "country": "USA",
        },
    }
    for key, value in fields.items():
        if value is OMIT:
            data.pop(key, None)
        else:
            data[key] = value
    return data


@pytest.fixture
def org() -> Callable[..., dict[str, Any]]:
    """Factory of valid organization mappings: org(3, parent=oid, name="X", address=OMIT)."""
    return make_org


@dataclass
class Repo:
    """A reconciler repository on disk."""

    root: Path

    def write(self, relative: str, content: str | bytes | Mapping[str, Any] | list[Any]) -> Path:
        """Write a file: text and bytes as they are, mappings and lists as YAML."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(dump(content), encoding="utf-8")
        return path

    def org(self, name: str, content: str | bytes | Mapping[str, Any]) -> Path:
        """orgs/<name>.yaml (or <name> as given when it has a suffix)."""
        return self.write(f"orgs/{name if '.' in name else name + '.yaml'}", content)

    def settings(self, content: str | Mapping[str, Any]) -> Path:
        return self.write("reconciler.yaml", content)

    def ledger_path(self, env: str = "sandbox") -> Path:
        return self.root / Workspace(self.root, env).environment.ledger

    def workspace(self, env: str = "sandbox") -> Workspace:
        return Workspace(repo=self.root, env_name=env)

    def plan(self, env: str = "sandbox") -> Plan:
        return reconcile.plan(self.workspace(env))

    def settle(self, env: str = "sandbox") -> ledgers.Ledger:
        """Make the ledger equal to the files, the way apply records each change."""
        return settle(self.workspace(env))


def settle(ws: Workspace, *, commit: str | None = None) -> ledgers.Ledger:
    """Apply every change of a fresh plan to the ledger (no Redox involved) and save it, as
    applied from `commit`."""
    plan = reconcile.plan(ws)
    current = ws.ledger()
    for change in plan.changes:
        entry = ledgers.make_entry(
            kind=change.kind,
            identity=change.identity,
            envelope=change.envelope,
            payload=change.after,
            active=kind_of(change.kind).is_active(change.after),
            source=change.source,
            commit=commit,
        )
        current = current.with_entry(change.key, entry)
    return ledger_store.save(ws.ledger_path, current)


@pytest.fixture
def repo(tmp_path: Path) -> Callable[..., Repo]:
    """Factory of repositories: repo(orgs={"a": mapping_or_text}, settings=mapping_or_text)."""
    counter = itertools.count()

    def make(
        orgs: Mapping[str, Any] | None = None,
        *,
        settings: str | Mapping[str, Any] | None = None,
        example: bool = False,
    ) -> Repo:
        root = tmp_path / f"repo{next(counter)}"
        root.mkdir()
        made = Repo(root)
        if example:
            shutil.copytree(EXAMPLE_ORGS, root / "orgs")
            shutil.copy(EXAMPLE_SETTINGS, root / "reconciler.yaml")
        for name, content in (orgs or {}).items():
            made.org(name, copy.deepcopy(content) if isinstance(content, dict) else content)
        if settings is not None:
            made.settings(settings)
        return made

    return make


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

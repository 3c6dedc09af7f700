"""Start-up: `validate` and `plan` load neither the event loop, HTTP, the server nor JWT (each
costs every run tens of milliseconds). The times are bench/startup.py's to print; this checks
what is loaded, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from factories import example_repository
from loaded_modules import run_loaded

NOT_AT_START = {"asyncio", "httpx", "httpcore", "uvicorn", "jwt", "cryptography"}


def loaded(tmp_path: Path, repo: Path, *args: str) -> tuple[int, set[str]]:
    """The exit code of `reconciler ARGS` run in a fresh interpreter, and the top-level
    packages it loaded."""
    found = run_loaded(tmp_path, repo, *args, timeout=120)
    assert isinstance(found.code, int), found.code
    return found.code, found.packages


@pytest.fixture
def example(tmp_path: Path) -> Path:
    return example_repository(tmp_path / "repo", providers=True)


@pytest.mark.parametrize(
    "args",
    [
        ("validate",),
        ("validate", "--format", "github"),
        ("plan",),
        ("plan", "--format", "json"),
        ("plan", "--format", "markdown"),
        ("show",),
        ("schema",),
    ],
)
def test_reading_commands_load_no_network(
    tmp_path: Path, example: Path, args: tuple[str, ...]
) -> None:
    code, modules = loaded(tmp_path, example, *args)
    assert code == 0
    assert modules & NOT_AT_START == set()


def test_a_plan_with_an_update_loads_no_network_either(tmp_path: Path, example: Path) -> None:
    assert loaded(tmp_path, example, "apply", "--yes")[0] == 0
    clinic = example / "orgs" / "madison-east-clinic.yaml"
    clinic.write_text(clinic.read_text().replace("Madison", "Monona", 1))
    code, modules = loaded(tmp_path, example, "plan")
    assert code == 0
    assert modules & NOT_AT_START == set()


def test_the_check_sees_what_a_command_talking_to_redox_loads(
    tmp_path: Path, example: Path
) -> None:
    code, modules = loaded(tmp_path, example, "drift")
    assert code == 0
    assert {"asyncio", "httpx"} <= modules


def test_cel_is_loaded_only_when_policies_are_configured(tmp_path: Path, example: Path) -> None:
    code, modules = loaded(tmp_path, example, "plan")
    assert code == 0
    assert modules & {"celpy", "lark", "pendulum"} == set()
    settings = example / "reconciler.yaml"
    settings.write_text(
        settings.read_text()
        + "policies:\n  - {name: p, level: advisory, deny: 'false', message: m}\n"
    )
    code, modules = loaded(tmp_path, example, "plan")
    assert code == 0
    assert "celpy" in modules
    assert modules & NOT_AT_START == set()


def test_notify_set_up_loads_no_apprise_to_validate_or_plan(
    tmp_path: Path, example: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = example / "reconciler.yaml"
    settings.write_text(
        settings.read_text() + "notify:\n  - url_env: HOOK\n    events: [apply.applied]\n"
        "    environments: [sandbox]\n"
    )
    for command in ("validate", "plan"):
        code, modules = loaded(tmp_path, example, command)
        assert code == 0, command
        assert modules & (NOT_AT_START | {"apprise", "requests", "urllib3"}) == set(), command
    # The check sees it when a message is sent (to nowhere: a warning, and exit 0).
    monkeypatch.setenv("HOOK", "json://127.0.0.1:9/hooks/startup")
    code, modules = loaded(tmp_path, example, "apply", "--yes")
    assert code == 0
    assert "apprise" in modules


def test_validate_loads_only_what_it_uses(tmp_path: Path, example: Path) -> None:
    """Neither the ledger, the plan, the views, their renderers, the notifications' delivery,
    orjson (only indented JSON needs it), nor the stat index's SQLite and the pool's
    multiprocessing for a small tree."""
    modules = run_loaded(tmp_path, example, "validate", timeout=120).modules
    unused = {
        m
        for m in modules
        if m.startswith(("reconciler.ledger", "reconciler.plan", "reconciler.views"))
        or m in {"reconciler.render.plan", "reconciler.render.graph", "reconciler.reconcile.apply"}
        or m in {"reconciler.notify.deliver", "reconciler.notify.events"}
        or m in {"filelock", "sqlite3", "multiprocessing", "concurrent.futures", "orjson"}
    }
    assert unused == set()
    assert "reconciler.records.loader" in modules


USE_CASE = """
import importlib, sys
first = sys.argv[1]
if first == "module":
    importlib.import_module("reconciler.reconcile.apply")
    importlib.import_module("reconciler.reconcile.verify")
elif first == "name":
    from reconciler.reconcile import Applied  # noqa: F401
from reconciler import reconcile
assert callable(reconcile.apply) and reconcile.apply.__module__ == "reconciler.reconcile.apply"
assert callable(reconcile.verify) and reconcile.verify.__module__ == "reconciler.reconcile.verify"
assert reconcile.validate.__module__ == "reconciler.reconcile.planning"
"""


@pytest.mark.parametrize("first", ["module", "name", "nothing"])
def test_the_use_case_apply_is_never_hidden_by_its_module(first: str) -> None:
    """The package's names load when asked for; importing the module `apply` (which the import
    system binds to the package's attribute `apply`) leaves the use case in place."""
    done = subprocess.run(
        [sys.executable, "-c", USE_CASE, first], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_the_entry_point_freezes_what_start_up_made_and_runs_with_the_collector_on(
    tmp_path: Path, example: Path
) -> None:
    """The console script is reconciler.__main__:main: start-up objects are frozen out of the
    cycle collector's passes, and the command itself runs with the collector on."""
    pyproject = (Path(__file__).resolve().parents[1] / "pyproject.toml").read_text()
    assert 'reconciler = "reconciler.__main__:main"' in pyproject
    probe = (
        "import atexit, gc, sys\n"
        "from reconciler.__main__ import main\n"
        "atexit.register(lambda: print('gc', gc.isenabled(), gc.get_freeze_count(),"
        " file=sys.stderr))\n"
        "sys.argv = ['reconciler', 'validate']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=example, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    _, enabled, frozen = done.stderr.strip().splitlines()[-1].split()
    assert enabled == "True"
    # Tens of thousands (click's, pydantic's and the models' objects); 0 without the freeze.
    assert int(frozen) > 10_000

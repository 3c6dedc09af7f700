"""The shape of the package: the core loads no I/O module, the CLI only parses and prints, kinds
own their knowledge, and the Redox facts both sides speak live in one module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "reconciler"
# What the pure core must never load: file locks, sockets, temporary files, processes, the
# event loop, HTTP, YAML, the CLI framework, the server, JWT.
IO_MODULES = (
    "fcntl",
    "msvcrt",
    "socket",
    "tempfile",
    "subprocess",
    "asyncio",
    "httpx",
    "httpcore",
    "yaml",
    "click",
    "uvicorn",
    "jwt",
)
CORE = (
    "reconciler.model",
    "reconciler.kinds",
    "reconciler.formats.jsontext",
    "reconciler.ledger.model",
    "reconciler.views.activity",
    "reconciler.views.report",
    "reconciler.ledger.adopt",
    "reconciler.plan",
    "reconciler.views",
    "reconciler.views.drift",
    "reconciler.views.graph",
    "reconciler.views.status",
    "reconciler.views.history",
    "reconciler.git.commits",
    "reconciler.render",
    "reconciler.policy",
    "reconciler.audit.entry",  # (and the package's __init__, which importing it runs)
    "reconciler.audit.quick",
    "reconciler.audit.findings",
)
# pydantic loads its plugins (importlib.metadata, which loads email, socket and tempfile) when
# the first model class is built: those are pydantic's, whatever the core does.
BASELINE = "import pydantic\nclass _Model(pydantic.BaseModel):\n    x: int = 0\n"


def loaded_by(*modules: str) -> list[str]:
    """The modules a fresh interpreter loads for `modules` beyond the pydantic baseline."""
    code = (
        "import json, sys\n"
        + BASELINE
        + "before = set(sys.modules)\n"
        + "".join(f"import {m}\n" for m in modules)
        + "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return list(json.loads(out))


@pytest.mark.parametrize("module", CORE)
def test_the_core_loads_no_io_module(module: str) -> None:
    loaded = loaded_by(module)
    assert [name for name in loaded if name.split(".")[0] in IO_MODULES] == []


def test_the_report_page_loads_no_io_module_of_its_own() -> None:
    # Jinja2 loads tempfile for its bytecode cache (which the page never uses): Jinja's own.
    jinja = set(loaded_by("jinja2"))
    loaded = [n for n in loaded_by("reconciler.render.html") if n not in jinja]
    assert [name for name in loaded if name.split(".")[0] in IO_MODULES] == []
    assert "jinja2" not in {name.split(".")[0] for name in loaded_by("reconciler.render")}


def test_the_check_sees_a_module_when_it_is_loaded() -> None:
    loaded = {
        name.split(".")[0]
        for name in loaded_by("reconciler.plan.model", "reconciler.formats.yamlfile")
    }
    assert "yaml" in loaded
    assert "asyncio" in {name.split(".")[0] for name in loaded_by("reconciler.engine.lookup")}


def _module_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The reconciler modules a file imports (module-level or inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("reconciler"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("reconciler"):
            module = node.module or ""
            # `from reconciler import reconcile` imports the module reconciler.reconcile.
            submodules = {f"{module}.{a.name}" for a in node.names}
            known = {s for s in submodules if _is_module(s)}
            found.update(known or {module})
    return found


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


# The CLI parses, confirms, renders and exits: it may call the use cases, the renderers, the
# session and workspace, and read the errors it maps; never the core's internals.
CLI_MAY_IMPORT = {
    "reconciler",
    "reconciler.reconcile",
    "reconciler.render",
    "reconciler.render.html",  # `report`: Jinja2, loaded by that command only
    "reconciler.errors",
    "reconciler.reconcile.workspace",
    "reconciler.reconcile.session",
    "reconciler.reconcile.audit",  # `audit ...`: imported when it runs (its regex takes a while)
    "reconciler.git.reader",
    "reconciler.records.settings",  # the name of the default environment
    "reconciler.kinds",  # `schema --kind`: the choices and the model
    "reconciler.sandbox.serve",  # `sandbox serve`
    "reconciler.github",  # `github ...`: the workflow steps
    "reconciler.formats.redact",  # masking the run's secrets in everything it prints
    "reconciler.notify",  # sending the run's notifications
    "reconciler.reconcile.answers",  # kept answers: read before click is imported (cli/kept.py)
}


def test_the_cli_holds_no_orchestration() -> None:
    outside: dict[str, set[str]] = {}
    for path in _module_files(PACKAGE / "cli"):
        imported = {m for m in _imports(path) if not m.startswith("reconciler.cli")}
        extra = imported - CLI_MAY_IMPORT
        if extra:
            outside[_name(path)] = extra
    assert outside == {}


def test_the_import_graph_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from reconciler.ledger import store\nfrom reconciler.plan.model import Plan\n"
    )
    assert _imports(sample) - CLI_MAY_IMPORT == {"reconciler.ledger.store", "reconciler.plan.model"}


def _kind_names(path: Path) -> list[int]:
    """Lines where a kind's name is written as a string literal."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in {"organization", "provider"}
    ]


def test_no_module_outside_kinds_names_a_kind() -> None:
    named = {
        _name(path): lines
        for path in _module_files(PACKAGE)
        if "kinds" not in path.relative_to(PACKAGE).parts and (lines := _kind_names(path))
    }
    # The one exception: `schema --kind` defaults to the organization file's schema.
    assert named.keys() <= {"reconciler.cli.planning"}
    assert len(named.get("reconciler.cli.planning", [])) <= 1


def test_redox_holds_only_the_client() -> None:
    modules = {p.stem for p in (PACKAGE / "redox").glob("*.py")}
    assert modules == {"__init__", "api", "client", "auth", "throttle"}
    for path in _module_files(PACKAGE / "redox"):
        assert not any(m.startswith("reconciler.sandbox") for m in _imports(path)), path


def _redox_facts() -> dict[str, str]:
    """The string constants of reconciler.redox.api (destination IDs, error texts, paths)."""
    tree = ast.parse((PACKAGE / "redox" / "api.py").read_text(encoding="utf-8"))
    facts: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.JoinedStr):
            value = ast.literal_eval(node.value) if isinstance(node.value, ast.Constant) else None
            if isinstance(value, str) and len(value) >= 8:
                facts[node.targets[0].id] = value  # type: ignore[attr-defined]
    return facts


def _code_strings(path: Path) -> list[str]:
    """The string literals of a module's code (docstrings left out)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def test_the_redox_facts_are_written_once() -> None:
    facts = _redox_facts()
    assert {"DEVELOPMENT_ORGANIZATION_DESTINATION", "NO_SUBSCRIPTION", "PARSE_FAILED"} <= set(facts)
    copies = {
        (_name(path), name)
        for path in _module_files(PACKAGE)
        if path != PACKAGE / "redox" / "api.py"
        for text in _code_strings(path)
        for name, value in facts.items()
        if value in text
    }
    assert copies == set()


def _file_writes(path: Path) -> list[str]:
    """Calls in a module that write files: open(), Path.write_text/write_bytes/open/mkdir,
    and os.* file operations."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            found.append(f"open() on line {node.lineno}")
        elif isinstance(func, ast.Attribute) and func.attr in {
            "write_text",
            "write_bytes",
            "mkdir",
            "unlink",
        }:
            found.append(f".{func.attr}() on line {node.lineno}")
        elif (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "os"
        ):
            found.append(f"os.{func.attr}() on line {node.lineno}")
    return found


@pytest.mark.parametrize("module", CORE)
def test_the_core_writes_no_file(module: str) -> None:
    path = PACKAGE.parent.joinpath(*module.split("."))
    files = _module_files(path) if path.is_dir() else [path.with_suffix(".py")]
    assert {_name(f): w for f in files if (w := _file_writes(f))} == {}


def test_the_write_check_sees_a_write(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nos.replace('a', 'b')\nopen('x', 'w')\n")
    assert _file_writes(sample) == ["os.replace() on line 2", "open() on line 3"]


# Modules that exist on POSIX only: importing one at module level stops the tool on Windows.
POSIX_ONLY = frozenset({"fcntl", "termios", "pty", "tty", "pwd", "grp", "resource"})


def _module_level_imports(tree: ast.Module) -> set[str]:
    """Top-level names of the modules imported at module level (not inside a function; inside
    `if`/`try` blocks too, which still run at import)."""
    found: set[str] = set()
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.If | ast.Try | ast.With):
            for field in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(node, field, []):
                    pending.extend(child.body if isinstance(child, ast.ExceptHandler) else [child])
    return found


def test_nothing_in_the_package_imports_a_posix_only_module_at_module_level() -> None:
    found = {
        _name(path): sorted(posix)
        for path in _module_files(PACKAGE)
        if (
            posix := _module_level_imports(ast.parse(path.read_text(encoding="utf-8"))) & POSIX_ONLY
        )
    }
    assert found == {}


def test_the_posix_import_check_sees_one() -> None:
    tree = ast.parse(
        "import os\ntry:\n    import fcntl\nexcept ImportError:\n    pass\n"
        "if os.name == 'posix':\n    from termios import TCSANOW\n"
        "def later():\n    import pty\n"
    )
    assert _module_level_imports(tree) & POSIX_ONLY == {"fcntl", "termios"}

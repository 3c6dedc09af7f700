"""The floor plan of the package, read from the source with `ast` (STYLE v3): a folder per
concept, few top-level modules, no import circle, the ledger's types in ledger/, sentences in
render/, modules and functions of a readable size, and tests that mirror the packages."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
PACKAGE = PROJECT / "reconciler"
TESTS = PROJECT / "tests"
MAX_TOP_LEVEL = 3
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
# A module or function may pass its limit when the line that opens it says why.
EXCEPTION_MARK = "size:"


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def module_name(path: Path, root: Path = PACKAGE.parent) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(path: Path, known: set[str], root: Path = PACKAGE.parent) -> set[str]:
    """The package modules a file imports, at module level or inside functions, but not under
    `if TYPE_CHECKING:` (those never run). `from a import b` imports a.b when that is a module,
    and always a itself."""
    name = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for part in node.body for child in ast.walk(part))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            module = _resolve(name, path.name == "__init__.py", node)
            if module in known:
                found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in known)
    return found - {name}


def graph(sources: list[Path], root: Path = PACKAGE.parent) -> dict[str, set[str]]:
    """Module -> the modules it imports. Importing a.b.c also runs a/__init__ and a/b/__init__,
    so a module depends on the packages above what it imports, except its own packages (their
    __init__ has run, or is running, before the module itself)."""
    names = {module_name(p, root): p for p in sources}
    known = set(names)
    edges: dict[str, set[str]] = {}
    for name, path in names.items():
        own = _ancestors(name) | {name}
        targets = imports_of(path, known, root)
        with_parents = set(targets)
        for target in targets:
            with_parents.update(_ancestors(target) - own)
        edges[name] = (with_parents & known) - {name}
    return edges


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_at_most_three_top_level_modules() -> None:
    top = sorted(
        p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}
    )
    assert len(top) <= MAX_TOP_LEVEL, top


def test_every_package_names_what_it_offers() -> None:
    silent = [
        str(init.relative_to(PROJECT))
        for init in PACKAGE.glob("*/__init__.py")
        if ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) is None
    ]
    assert silent == []


def test_no_import_circle_anywhere() -> None:
    edges = graph(_sources())
    assert cycles(edges) == []


def test_the_circle_check_sees_a_circle_through_a_function_level_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package."""\n')
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def later():\n    from pkg.a import x\n")
    (package / "c.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
    )
    sources = sorted(package.glob("*.py"))
    edges = graph(sources, root=tmp_path)
    assert cycles(edges) == [["pkg.a", "pkg.b"]]
    assert "pkg.a" not in edges["pkg.c"]  # under TYPE_CHECKING: never runs


def _classes(path: Path) -> Iterator[tuple[str, int]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef):
            yield node.name, node.lineno


def test_the_ledgers_types_live_in_ledger() -> None:
    outside = [
        f"{path.relative_to(PROJECT)}:{line} {name}"
        for path in _sources()
        if "ledger" not in path.relative_to(PACKAGE).parts[:1]
        for name, line in _classes(path)
        if (name.startswith(("Ledger", "Journal")) or name == "Entry")
        # An error or an event about the ledger may live with the errors and events.
        and not name.endswith(("Error", "Event"))
    ]
    assert outside == []


def _opening_line(path: Path, line: int) -> str:
    return path.read_text(encoding="utf-8").splitlines()[line - 1]


def _excused(path: Path, node: ast.AST) -> bool:
    """A `# size: why` comment on the line that opens the function (or the module's first)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = getattr(node, "lineno", 1)
    decorators = getattr(node, "decorator_list", [])
    if decorators:
        first = min(d.lineno for d in decorators)
    window = lines[max(0, first - 2) : first + 1]
    return any(f"# {EXCEPTION_MARK}" in line for line in window)


def test_no_module_over_450_lines() -> None:
    long = {}
    for path in _sources():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > MAX_MODULE_LINES and not _excused(path, ast.Module(body=[], type_ignores=[])):
            long[str(path.relative_to(PROJECT))] = count
    assert long == {}


def test_no_function_over_80_lines() -> None:
    long = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES and not _excused(path, node):
                    long[f"{path.relative_to(PROJECT)}:{node.lineno} {node.name}"] = size
    assert long == {}


def test_sentences_about_results_are_made_in_render_or_cli() -> None:
    outside = [
        f"{path.relative_to(PROJECT)}:{node.lineno} {node.name}"
        for path in _sources()
        if path.relative_to(PACKAGE).parts[0] not in {"render", "cli"}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.lstrip("_").startswith("summary")
    ]
    assert outside == []


def test_tests_mirror_the_packages() -> None:
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    mirrored = {p.name for p in TESTS.iterdir() if p.is_dir() and any(p.glob("test_*.py"))}
    missing = sorted(packages - mirrored)
    # Nearly every package: at most one may be tested only through the others.
    assert len(missing) <= 1, missing


def test_test_file_names_are_unique() -> None:
    # pytest imports test files by their base name (prepend import mode): two equal names in
    # two folders would shadow each other.
    seen: dict[str, list[str]] = {}
    for path in TESTS.rglob("test_*.py"):
        seen.setdefault(path.name, []).append(str(path.relative_to(TESTS)))
    assert {name: where for name, where in seen.items() if len(where) > 1} == {}

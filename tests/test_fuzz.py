"""Fuzzing `validate`, `plan` and `apply PLANFILE` through a real subprocess: hypothesis mutates
the record files, the settings, the ledger and a saved plan (values set to hostile ones at any
depth, keys dropped, bytes cut or flipped, lines inserted), and a table puts odd filesystem
objects at each place the tool reads. Every answer: no traceback and no bug report, an exit
code of 0, 1 or 2, within 10 s, under 300 MB, and an exit 1 names the file that was broken.

The number of hypothesis cases is FUZZ_CASES (default 100: about two minutes in CI with the
table); `FUZZ_CASES=5000 pytest tests/test_fuzz.py` is the long run. The cases are the same on
every run; FUZZ_RANDOM=1 draws new ones.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile import Answer, assert_sound, run
from hostile_cases import SECRET_LINE, alias_bomb, bind_socket, nested_json
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sandbox_server import example_repo

from reconciler.errors import cut
from reconciler.reconcile.workspace import Workspace

pytestmark = pytest.mark.posix  # FIFOs, sockets, symlinks and os.wait4

FUZZ_CASES = int(os.environ.get("FUZZ_CASES", "100"))
ORG = "orgs/madison-east-clinic.yaml"
PARENT = "orgs/northwind-health.yaml"
PROVIDER = "providers/avery-lindqvist.yaml"
SETTINGS = "reconciler.yaml"
LEDGER = ".reconciler/sandbox/ledger.json"
PLAN = "saved-plan.json"
PLACEHOLDER = "HOSTILE-VALUE-PLACEHOLDER"

# What each target is read by.
COMMANDS: dict[str, list[tuple[str, ...]]] = {
    ORG: [("validate",), ("plan",), ("validate", "--format", "github")],
    PARENT: [("validate",), ("plan", "--format", "markdown")],
    PROVIDER: [("validate",), ("plan",)],
    SETTINGS: [("validate",), ("plan",), ("plan", "--env", "production")],
    LEDGER: [("plan",), ("show",), ("plan", "--format", "json")],
    PLAN: [("apply", "--yes", PLAN)],
}

# Single-line YAML that replaces a value: numbers past every limit, aliases, tags, nesting,
# YAML 1.1 words, odd scalars, long and control-character text.
YAML_VALUES = [
    "1" + "0" * 5000,
    "-" + "9" * 30,
    str(2**64),
    "0x" + "f" * 40,
    ":".join(["59"] * 20),
    ".nan",
    "-.inf",
    "1.5e+400",
    "*undefined",
    "&a [*a]",
    "!!python/object/apply:os.system [echo hi]",
    "!!binary aGVsbG8=",
    "!custom x",
    "[" * 300 + "]" * 300,
    "{a: {b: {c: {d: {e: {f: {g: {h: {i: {j: {k: {l: {m: {n: {o: {p: {q: 1}}}}}}}}}}}}}}}}}",
    "yes",
    "Off",
    "~",
    "null",
    "[]",
    "{}",
    "''",
    '"\\0\\x01\\u202e"',
    '"\\ud800"',
    "x" * 200_000,
    "2026-02-30",
    "12:30:00",
    "0o777",
    "+1",
    "? [a, b]",
    "[1, [2, [3]]]",
    "{oid: 1}",
    "'multi\n  line'",
]
# Single-line JSON that replaces a value.
JSON_VALUES = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "1" + "0" * 5000,
    "18446744073709551616",
    "-9223372036854775809",
    nested_json(3000),
    nested_json(100),
    '"' + "x" * 200_000 + '"',
    '"\\u0000"',
    '"\\ud800"',
    "null",
    "true",
    "0",
    "-1",
    "1.5",
    "[]",
    "{}",
    '"text"',
    '[1, "a", null]',
    '{"kind": "spaceship"}',
    '{"kind": "organization", "identity": "1.2"}',
    '"organization"',
    '"create"',
    '"destroy"',
]
HOSTILE_LINES = [
    "<<: *x",
    "a: &a [1]\nb: *a",
    "%YAML 1.1",
    "---",
    "...",
    "? [a, b]\n: c",
    "\tkey: tab",
    "!!python/object:os.system {}",
    "key: value: other",
    "- item",
    "oid: 1.2",
    "oid: 1.2\noid: 1.3",
    "  indented: wrongly",
    "\x00",
    "\ufeffbom: 1",
    "\x1b[31mred",
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example repository applied to the in-process sandbox, then changed, with the plan
    of that change saved: every place the tool reads holds a real file to break."""
    repo = example_repo(tmp_path_factory.mktemp("fuzz") / "repo")
    applied = run(repo, "apply", "--yes", guard=120)
    assert applied.returncode == 0, applied.describe()
    text = (repo / ORG).read_text(encoding="utf-8").replace("Madison", "Verona", 1)
    (repo / ORG).write_text(text, encoding="utf-8")
    saved = run(repo, "plan", "--out", PLAN, guard=60)
    assert saved.returncode == 0, saved.describe()
    assert Workspace(repo=repo, env_name="sandbox").ledger_store.path == repo / LEDGER
    return repo


def _copy(pristine: Path, tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    shutil.copytree(pristine, repo, symlinks=True)
    return repo


def _broken_file_named(answer: Answer, target: str) -> bool:
    """Whether an exit 1 names the file that was broken (or, for a record file, the files its
    change makes invalid in turn; for a saved plan that still applies, the records that
    failed)."""
    text = answer.output
    if target in text:
        return True
    if target.startswith(("orgs/", "providers/")):
        return "orgs/" in text or "providers/" in text
    if target == PLAN:
        # A plan that is sound but refused by the directory, made against another ledger
        # state, or marked unsafe: apply says so, record by record.
        return any(s in text for s in ("failed:", "skipped:", "another apply ran since", "--force"))
    return False


def _check(answer: Answer, target: str) -> None:
    assert_sound(answer)
    if answer.returncode == 1:
        assert _broken_file_named(answer, target), answer.describe()
    assert SECRET_LINE not in answer.output


# -- value mutations at any depth -----------------------------------------------------------


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON-like value (the value itself too)."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_paths(item, (*prefix, index)))
    return found


def _mutate_data(data: Any, path: tuple[Any, ...], op: str) -> Any:
    """`data` with the value at `path` replaced by the placeholder, removed, or doubled."""
    if not path:
        return PLACEHOLDER if op == "set" else [data]
    parent = data
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == "set":
        parent[last] = PLACEHOLDER
    elif op == "delete":
        del parent[last]
    elif op == "wrap":
        parent[last] = [parent[last]]
    elif op == "rename" and isinstance(last, str):
        parent[last + "x"] = parent.pop(last)
    return data


@dataclass(frozen=True)
class Mutated:
    """A broken file: its place, its bytes, how it was broken, and the command that reads it
    (shown short when hypothesis reports a failing case)."""

    target: str
    content: bytes
    how: str
    command: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Mutated({self.target!r}, {cut(self.how, limit=300)}, {self.command!r})"


@st.composite
def value_mutation(draw: st.DrawFn, text: str, as_json: bool) -> tuple[bytes, str]:
    data = json.loads(text) if as_json else yaml.safe_load(text)
    path = draw(st.sampled_from(_paths(data)))
    op = draw(st.sampled_from(["set", "set", "set", "delete", "wrap", "rename"]))
    if not path and op == "delete":
        op = "set"
    mutated = _mutate_data(data, path, op)
    if as_json:
        value = draw(st.sampled_from(JSON_VALUES))
        dumped = json.dumps(mutated, indent=2).replace(f'"{PLACEHOLDER}"', value)
    else:
        value = draw(st.sampled_from(YAML_VALUES))
        dumped = yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True, width=10**6)
        dumped = dumped.replace(PLACEHOLDER, value)
    how = f"{op} {list(path)}" + (f" to {value!r}" if op == "set" else "")
    return dumped.encode("utf-8", errors="surrogatepass"), how


@st.composite
def byte_mutation(draw: st.DrawFn, text: str) -> tuple[bytes, str]:
    raw = text.encode("utf-8")
    op = draw(
        st.sampled_from(["truncate", "flip", "insert-line", "duplicate-line", "bomb", "crlf"])
    )
    if op == "truncate":
        at = draw(st.integers(0, len(raw)))
        return raw[:at], f"cut at byte {at}"
    if op == "flip":
        at = draw(st.integers(0, max(0, len(raw) - 1)))
        byte = draw(st.sampled_from(FLIPS))
        return raw[:at] + bytes([byte]) + raw[at + 1 :], f"byte {at} set to {byte:#04x}"
    lines = raw.split(b"\n")
    at = draw(st.integers(0, len(lines)))
    if op == "insert-line":
        line = draw(st.sampled_from(HOSTILE_LINES))
        return b"\n".join([*lines[:at], line.encode(), *lines[at:]]), f"{line!r} at line {at}"
    if op == "duplicate-line":
        at = min(at, len(lines) - 1)
        return b"\n".join([*lines[: at + 1], lines[at], *lines[at + 1 :]]), f"line {at} twice"
    if op == "bomb":
        levels = draw(st.integers(3, 12))
        return alias_bomb(levels).encode(), f"an alias bomb of {levels} levels"
    return raw.replace(b"\n", b"\r\n"), "CRLF line ends"


FLIPS = [0x00, 0xFF, 0xC3, 0x22, 0x27, 0x5B, 0x7B, 0x3A, 0x2A, 0x26, 0x0A, 0x09]


TARGETS = sorted(COMMANDS)


@st.composite
def fuzz_case(draw: st.DrawFn, pristine: Path) -> Mutated:
    target = draw(st.sampled_from(TARGETS))
    text = (pristine / target).read_text(encoding="utf-8")
    if draw(st.booleans()):
        content, how = draw(value_mutation(text, target.endswith(".json")))
    else:
        content, how = draw(byte_mutation(text))
    return Mutated(target, content, how, draw(st.sampled_from(COMMANDS[target])))


@pytest.mark.slow  # about 80 s at the default FUZZ_CASES: CI runs it, the fast loop does not
def test_fuzzed_files_get_an_answer_never_a_traceback(pristine: Path, tmp_path: Path) -> None:
    @settings(
        max_examples=FUZZ_CASES,
        deadline=None,
        derandomize=not os.environ.get("FUZZ_RANDOM"),
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def one(data: st.DataObject) -> None:
        case = data.draw(fuzz_case(pristine))
        repo = _copy(pristine, tmp_path)
        (repo / case.target).write_bytes(case.content)
        _check(run(repo, *case.command), case.target)

    one()


# -- the filesystem table -------------------------------------------------------------------


def _fifo(path: Path, _outside: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path, _outside: Path) -> None:
    bind_socket(path)


def _directory(path: Path, _outside: Path) -> None:
    path.mkdir()
    (path / "inner.yaml").write_text("oid: 1.2\n")


def _link(target: Callable[[Path, Path], Path]) -> Callable[[Path, Path], None]:
    return lambda path, outside: path.symlink_to(target(path, outside))


def _secret(_path: Path, outside: Path) -> Path:
    key = outside / "key.pem"
    key.write_text(f"-----BEGIN PRIVATE KEY-----\n{SECRET_LINE}\n-----END PRIVATE KEY-----\n")
    return key


def _sparse(size: int) -> Callable[[Path, Path], None]:
    def make(path: Path, _outside: Path) -> None:
        with path.open("wb") as handle:
            handle.truncate(size)

    return make


OBJECTS: dict[str, Callable[[Path, Path], None]] = {
    "fifo": _fifo,
    "socket": _socket,
    "directory": _directory,
    "empty": lambda path, _o: path.write_bytes(b""),
    "nul-bytes": lambda path, _o: path.write_bytes(b"\x00" * 4096),
    "sparse-2-GiB": _sparse(2 * 1024**3),
    "link-dev-zero": _link(lambda p, o: Path("/dev/zero")),
    "link-dev-urandom": _link(lambda p, o: Path("/dev/urandom")),
    "link-secret-outside": _link(_secret),
    "link-outside-dir": _link(lambda p, o: o),
    "link-loop": _link(lambda p, o: p),
    "link-dangling": _link(lambda p, o: p.parent / "no-such-file"),
    "link-proc-self": _link(lambda p, o: Path("/proc/self/environ")),
}
PLACES = {  # where the object goes, and the command that reads it
    "orgs/x.yaml": ("validate",),
    "providers/x.yml": ("plan",),
    ORG: ("plan",),
    SETTINGS: ("validate",),
    LEDGER: ("plan",),
    PLAN: ("apply", "--yes", PLAN),
}


@pytest.mark.parametrize("place", sorted(PLACES))
@pytest.mark.parametrize("kind", sorted(OBJECTS))
def test_an_odd_filesystem_object_gets_an_error_naming_it(
    pristine: Path, tmp_path: Path, place: str, kind: str
) -> None:
    repo = _copy(pristine, tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    path = repo / place
    path.unlink(missing_ok=True)
    OBJECTS[kind](path, outside)
    answer = run(repo, *PLACES[place])
    _check(answer, place)
    readable = kind == "empty" and place == SETTINGS
    if not readable:
        assert answer.returncode == 1, answer.describe()
        assert place in answer.output, answer.describe()
    if sys.platform.startswith("linux") and kind == "link-proc-self":
        assert "PATH=" not in answer.output

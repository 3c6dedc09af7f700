"""Kept answers (cli/kept.py, reconcile/answers.py) through the real entry point, each run a new
`python -m reconciler` process: an unchanged question is answered with the exact bytes and exit
status of the run that made the answer, and each input that can change the answer makes the
command run in full again, giving what a run without any cache gives."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from factories import (
    GATEWAY,
    example_repository,
    generated_repository,
    organization,
    write_settings,
)

from reconciler.cli import kept
from reconciler.reconcile import answers

CLOCK = Path(".reconciler", "cache", "clock")
COMMAND = (sys.executable, "-m", "reconciler")  # written by every run that is not answered


@dataclass(frozen=True)
class Ran:
    code: int
    out: bytes
    err: bytes
    answered: bool  # from a kept answer (the run wrote nothing, not even its clock)


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("REDOX_") and k != "NO_COLOR"}
    return {**base, **extra}


def reconciler(repo: Path, *args: str, merged: bool = False, **env: str) -> Ran:
    """`python -m reconciler ARGS` in `repo` (stderr into stdout with `merged`)."""
    clock = repo / CLOCK
    before = clock.stat().st_mtime_ns if clock.exists() else None
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=repo,
        env=_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        timeout=120,
        check=False,
    )
    after = clock.stat().st_mtime_ns if clock.exists() else None
    answered = after is not None and after == before
    return Ran(done.returncode, done.stdout, done.stderr or b"", answered)


def kept_answers(repo: Path) -> list[Path]:
    return sorted((repo / answers.FOLDER).glob("*" + answers.SUFFIX))


@pytest.fixture
def example(tmp_path: Path) -> Path:
    repo = example_repository(tmp_path / "repo", providers=True)
    _older()
    return repo


def _older() -> None:
    """Let the filesystem's clock move past the files just written: a run's clock must be
    later than a file for its answer to be kept (a test writes faster than a person)."""
    time.sleep(0.02)


# -- the question ------------------------------------------------------------------------------


class _Stream:
    def __init__(self, tty: bool = False) -> None:
        self.tty = tty
        self.encoding, self.errors = "utf-8", "strict"

    def isatty(self) -> bool:
        return self.tty


def _question(argv: list[str], **env: str) -> kept.Question | None:
    return kept.question(argv, env, (_Stream(), _Stream()))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "argv",
    [
        ["plan"],
        ["validate"],
        ["--env", "production", "plan", "--format", "json", "--detailed-exitcode"],
        ["plan", "--env=production", "--force", "--jobs", "2"],
        ["validate", "--format=github"],
        ["--repo", ".", "validate", "--format", "json"],
    ],
)
def test_a_plan_or_validate_is_a_question_that_may_be_kept(argv: list[str]) -> None:
    assert _question(argv) is not None


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["apply", "--yes"],
        ["show"],
        ["plan", "--out", "plan.json"],
        ["plan", "--refresh"],
        ["plan", "--format", "markdown"],
        ["plan", "--no-cache"],
        ["--no-cache", "plan"],
        ["-v", "plan"],
        ["plan", "--verbose"],
        ["plan", "--help"],
        ["plan", "-h"],
        ["validate", "--detailed-exitcode"],  # not an option of validate: click's error
        ["plan", "--format"],
        ["plan", "--force=yes"],
        ["plan", "extra"],
        ["plan", "validate"],
        ["--repo", ".", "plan", "--repo", "."],
    ],
)
def test_anything_else_runs_in_full(argv: list[str]) -> None:
    assert _question(argv) is None


def test_the_key_holds_what_the_answer_depends_on(tmp_path: Path) -> None:
    def key(argv: list[str], *, tty: bool = False, cwd: Path = tmp_path, **env: str) -> str:
        here = Path.cwd()
        os.chdir(cwd)
        try:
            asked = kept.question(argv, env, (_Stream(tty), _Stream()))  # type: ignore[arg-type]
        finally:
            os.chdir(here)
        assert asked is not None
        return asked.key

    other = tmp_path / "other"
    other.mkdir()
    keys = [
        key(["plan"]),
        key(["plan", "--format", "text"]),
        key(["plan"], tty=True),
        key(["plan"], REDOX_ENV="production"),
        key(["plan"], NO_COLOR="1"),
        key(["plan"], cwd=other),
        key(["--repo", str(other), "plan"]),
    ]
    assert len(set(keys)) == len(keys)
    assert key(["plan"], UNRELATED="x") == key(["plan"])


# -- answered again ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("plan",), ("plan", "--format", "json"), ("validate",), ("validate", "--format", "github")],
)
def test_an_unchanged_question_is_answered_with_the_same_bytes(
    example: Path, args: tuple[str, ...]
) -> None:
    made = reconciler(example, *args)
    assert not made.answered
    assert made.code == 0, made.err
    assert len(kept_answers(example)) == 1
    again = reconciler(example, *args)
    assert again.answered
    assert (again.code, again.out, again.err) == (made.code, made.out, made.err)


_LOADED = """
import json, sys
out, sys.argv = sys.argv[1], ["reconciler", *sys.argv[2:]]
from reconciler.__main__ import main
try:
    main()
finally:
    with open(out, "w") as handle:
        json.dump(sorted(sys.modules), handle)
"""


def test_an_answer_is_printed_without_click_or_pydantic(example: Path, tmp_path: Path) -> None:
    out = tmp_path / "modules.json"
    made = _run(example, [sys.executable, "-c", _LOADED, str(out), "plan"])
    assert "click" in json.loads(out.read_text(encoding="utf-8"))  # the run that made it
    again = _run(example, [sys.executable, "-c", _LOADED, str(out), "plan"])
    assert (again.returncode, again.stdout) == (made.returncode, made.stdout)
    loaded = {name.split(".")[0] for name in json.loads(out.read_text(encoding="utf-8"))}
    assert loaded.isdisjoint({"click", "pydantic", "yaml", "sqlite3"})
    assert "reconciler" in loaded


def test_both_streams_in_one_pipe_come_in_the_same_order(example: Path) -> None:
    example.joinpath("orgs", "odd.yaml").write_text("oid: [\n", encoding="utf-8")
    _older()
    full = reconciler(example, "--no-cache", "validate", "--format", "github", merged=True)
    made = reconciler(example, "validate", "--format", "github", merged=True)
    again = reconciler(example, "validate", "--format", "github", merged=True)
    assert again.answered
    assert not made.answered
    assert full.code == made.code == again.code == 1
    assert full.out == made.out == again.out
    assert b"odd.yaml" in full.out


@pytest.mark.parametrize("unbuffered", ["", "1"])
def test_a_plan_and_its_error_in_one_pipe_come_in_the_same_order(
    example: Path, unbuffered: str
) -> None:
    """An unsafe plan prints the plan on stdout, then its error on stderr: merged, the order
    depends on the streams' buffering (PYTHONUNBUFFERED leaves the text layer alone), and an
    answer must give the order the command gives."""
    write_settings(example, safety={"max_deactivate_fraction": 0.05, "min_records_for_fraction": 1})
    applied(example)
    clinic = example / "orgs" / "madison-east-clinic.yaml"
    text = clinic.read_text(encoding="utf-8")
    clinic.write_text(text.replace("\nactive: true", "\nactive: false"), encoding="utf-8")
    _older()
    env = {"PYTHONUNBUFFERED": unbuffered} if unbuffered else {}
    base = {k: v for k, v in _env().items() if k != "PYTHONUNBUFFERED"}
    runs = []
    for args in (("--no-cache", "plan"), ("plan",), ("plan",)):
        done = subprocess.run(
            [*COMMAND, *args],
            cwd=example,
            env={**base, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
        runs.append((done.returncode, done.stdout))
    assert runs[0][0] == 1
    assert b"Error:" in runs[0][1]
    assert runs[0] == runs[1] == runs[2]
    assert kept_answers(example)


def _closed_early(repo: Path, *args: str) -> tuple[int, bytes]:
    """Run with a reader that goes away after 10 bytes: the exit code and stderr."""
    with subprocess.Popen(
        [*COMMAND, *args], cwd=repo, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.read(10)
        process.stdout.close()
        err = process.stderr.read()
        return process.wait(timeout=120), err


def test_a_reader_that_goes_away_ends_both_alike(tmp_path: Path) -> None:
    repo = generated_repository(tmp_path / "repo", children=300, root=f"{GATEWAY}.77")
    _older()
    full = _closed_early(repo, "--no-cache", "plan", "--format", "json")
    reconciler(repo, "plan", "--format", "json")
    assert reconciler(repo, "plan", "--format", "json").answered  # its output is > 64 KiB
    answered = _closed_early(repo, "plan", "--format", "json")
    assert answered == full
    assert full[0] == 1


def test_a_failed_plan_is_not_kept_and_a_failed_validate_is(example: Path) -> None:
    example.joinpath("orgs", "odd.yaml").write_text("oid: [\n", encoding="utf-8")
    _older()
    failed = reconciler(example, "plan")
    assert failed.code == 1
    assert b"odd.yaml" in failed.err
    assert kept_answers(example) == []
    assert not reconciler(example, "plan").answered
    invalid = reconciler(example, "validate")
    again = reconciler(example, "validate")
    assert again.answered
    assert (again.code, again.out, again.err) == (invalid.code, invalid.out, invalid.err)
    assert again.code == 1


# -- every input, changed in turn ------------------------------------------------------------

Edit = Callable[[Path], None]


def _rename_in_place(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    assert len(old) == len(new)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def same_size_edit(repo: Path) -> None:
    _rename_in_place(repo / "orgs" / "northwind-health.yaml", "name: Northwind", "name: Northwynd")


def edit_with_mtime_put_back(repo: Path) -> None:
    path = repo / "orgs" / "madison-east-clinic.yaml"
    before = path.stat()
    _rename_in_place(path, "name: Northwind Madison", "name: Northwind Madisun")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def new_record(repo: Path) -> None:
    data = yaml.safe_load((repo / "orgs" / "northwind-health.yaml").read_text(encoding="utf-8"))
    record = organization(77, parent=data["oid"])
    (repo / "orgs" / "added.yaml").write_text(yaml.safe_dump(record), encoding="utf-8")


def removed_record(repo: Path) -> None:
    (repo / "orgs" / "dubuque-urgent-care.yaml").unlink()


def renamed_record(repo: Path) -> None:
    (repo / "orgs" / "deeper").mkdir()
    (repo / "orgs" / "rockford-family-medicine.yaml").rename(
        repo / "orgs" / "deeper" / "rockford-family-medicine.yaml"
    )


def removed_providers(repo: Path) -> None:
    shutil.rmtree(repo / "providers")


def settings_changed(repo: Path) -> None:
    """A policy whose result the plan prints."""
    rule = 'change.kind == "organization" && change.action == "create"'
    policy = {"name": "no-creates", "level": "soft", "deny": rule, "message": "no creates"}
    write_settings(repo, policies=[policy])


def _run(repo: Path, argv: list[str], **env: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv, cwd=repo, env=_env(**env), capture_output=True, timeout=180, check=False
    )


def applied(repo: Path) -> None:
    done = _run(repo, [*COMMAND, "apply", "--yes"])
    assert done.returncode == 0, done.stderr


def ledger_edited(repo: Path) -> None:
    applied(repo)
    path = repo / ".reconciler" / "sandbox" / "ledger.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["records"]
    path.write_text(path.read_text(encoding="utf-8").replace("Madison", "Madisun"), "utf-8")


def journal_appeared(repo: Path) -> None:
    applied(repo)
    folder = repo / ".reconciler" / "journal"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sandbox.jsonl").write_text("not a journal\n", encoding="utf-8")


EDITS: dict[str, Edit] = {
    "a record's bytes, same size": same_size_edit,
    "a record's bytes, its mtime put back": edit_with_mtime_put_back,
    "a new record file": new_record,
    "a record file removed": removed_record,
    "a record file moved": renamed_record,
    "a kind's folder removed": removed_providers,
    "reconciler.yaml": settings_changed,
    "the ledger, by an apply": applied,
    "the ledger, by hand": ledger_edited,
    "the apply journal": journal_appeared,
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=list(EDITS))
@pytest.mark.parametrize("args", [("plan", "--format", "json"), ("validate",)])
def test_each_input_changed_gives_what_a_run_without_caches_gives(
    example: Path, edit: Edit, args: tuple[str, ...]
) -> None:
    before = reconciler(example, *args)
    assert reconciler(example, *args).answered  # the answer that the edit must not outlive
    edit(example)
    _older()
    fresh = reconciler(example, "--no-cache", *args)
    after = reconciler(example, *args)
    again = reconciler(example, *args)
    assert (after.code, after.out, after.err) == (fresh.code, fresh.out, fresh.err)
    assert (again.code, again.out, again.err) == (fresh.code, fresh.out, fresh.err)
    if args[0] == "plan":  # each edit changes the plan: an answer kept too long shows here
        assert (fresh.code, fresh.out, fresh.err) != (before.code, before.out, before.err)
    if (fresh.code, fresh.out, fresh.err) != (before.code, before.out, before.err):
        assert not after.answered
    if args[0] == "plan" and edit is not journal_appeared:
        assert again.answered


def test_an_environment_variable_read_by_the_commands_is_part_of_the_question(
    example: Path,
) -> None:
    sandbox = reconciler(example, "plan")
    assert reconciler(example, "plan").answered
    other = reconciler(example, "plan", REDOX_ENV="development")
    assert not other.answered
    assert other.out != sandbox.out
    assert reconciler(example, "plan", REDOX_ENV="development").out == other.out


# -- what is never trusted -----------------------------------------------------------------------


def test_a_file_changed_after_the_runs_clock_keeps_no_answer(example: Path) -> None:
    """A file whose mtime is not older than the run's clock may have been written after the
    run read it (or within the clock's granularity before): its answer is not kept."""
    path = example / "orgs" / "northwind-health.yaml"
    later = time.time_ns() + 3600 * 10**9
    os.utime(path, ns=(later, later))
    first = reconciler(example, "plan")
    assert first.code == 0
    assert kept_answers(example) == []
    assert not reconciler(example, "plan").answered


def test_a_damaged_answer_is_not_believed(example: Path) -> None:
    made = reconciler(example, "plan", "--format", "json")
    (answer,) = kept_answers(example)
    data = bytearray(answer.read_bytes())
    at = data.index(b"Northwind")
    data[at : at + 9] = b"Southwind"
    answer.write_bytes(bytes(data))
    again = reconciler(example, "plan", "--format", "json")
    assert not again.answered
    assert again.out == made.out
    assert reconciler(example, "plan", "--format", "json").answered


def test_an_answer_of_another_question_is_not_believed(example: Path) -> None:
    reconciler(example, "plan")
    (text,) = kept_answers(example)
    json_made = reconciler(example, "plan", "--format", "json")
    (json_answer,) = (p for p in kept_answers(example) if p != text)
    shutil.copy(text, json_answer)  # the text plan's answer under the JSON question's name
    again = reconciler(example, "plan", "--format", "json")
    assert not again.answered
    assert again.out == json_made.out


def test_a_symlinked_record_keeps_no_answer(example: Path) -> None:
    target = example / "elsewhere.yaml"
    shutil.move(example / "orgs" / "dubuque-urgent-care.yaml", target)
    (example / "orgs" / "dubuque-urgent-care.yaml").symlink_to(target)
    _older()
    first = reconciler(example, "validate")
    assert not reconciler(example, "validate").answered
    assert kept_answers(example) == []
    assert first.code in (0, 1)


# -- what the commands read ----------------------------------------------------------------------

_WATCH_ENVIRON = """
import atexit, json, os, sys

seen = set()
OWN = {"os", "_collections_abc", "__main__"}


def caller():
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in OWN:
        frame = frame.f_back
    return frame.f_globals.get("__name__", "?") if frame is not None else "?"


class Watched(dict):
    def _saw(self, name):
        seen.add((caller(), name))

    def __getitem__(self, name):
        self._saw(name)
        return dict.__getitem__(self, name)

    def get(self, name, default=None):
        self._saw(name)
        return dict.get(self, name, default)

    def __contains__(self, name):
        self._saw(name)
        return dict.__contains__(self, name)

    def __iter__(self):
        self._saw("*")
        return dict.__iter__(self)

    def keys(self):
        self._saw("*")
        return dict.keys(self)

    def items(self):
        self._saw("*")
        return dict.items(self)

    def copy(self):
        self._saw("*")
        return dict.copy(self)


def dump(out=sys.argv[1]):
    with open(out, "w") as handle:
        json.dump(sorted(seen), handle)


os.environ = Watched(os.environ)
atexit.register(dump)
sys.argv = ["reconciler", *sys.argv[2:]]
from reconciler.cli.group import main
main()
"""


@pytest.mark.parametrize(
    "args", [("plan",), ("plan", "--format", "json"), ("validate", "--format", "github")]
)
def test_the_commands_read_no_variable_the_question_does_not_hold(
    example: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    out = tmp_path / "seen.json"
    done = _run(
        example, [sys.executable, "-c", _WATCH_ENVIRON, str(out), *args], REDOX_ENV="sandbox"
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(out.read_text(encoding="utf-8"))
    ours = {name for module, name in seen if module.startswith("reconciler")}
    assert "REDOX_ENV" in ours  # the watch sees the package's reads
    assert ours <= set(kept.READ)


_PATH = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _touched(log: Path, repo: Path) -> set[str]:
    """The paths inside `repo` that the traced process named in a file system call."""
    inside: set[str] = set()
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        call = line.split(None, 1)[-1]
        if call.startswith("execve("):
            continue  # the command line, not files
        for name in _PATH.findall(call)[:1]:
            path = Path(name) if name.startswith("/") else repo / name
            try:
                relative = Path(os.path.normpath(path)).relative_to(repo)
            except ValueError:
                continue
            inside.add(relative.as_posix())
    return inside


@pytest.mark.skipif(
    shutil.which("strace") is None, reason="strace is not installed (Debian: strace)"
)
@pytest.mark.parametrize("args", [("plan", "--format", "json"), ("validate",)])
def test_every_file_the_commands_touch_is_an_input_of_their_answer(
    example: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Traced with strace: each path inside the repository that a full run opens, stats or
    lists is the repository itself, a record folder's, a file the answer names, a folder
    above one of those, or the caches'. A new input (an ignore file, a second settings file)
    read by a later change of the code fails here until the answer holds it."""
    applied(example)  # a ledger to read
    example.joinpath(".reconciler", "journal").mkdir(parents=True, exist_ok=True)
    _older()
    log = tmp_path / "strace.log"
    trace = ["strace", "-f", "-qq", "-e", "trace=%file", "-o", str(log)]
    done = _run(example, [*trace, *COMMAND, *args])
    assert done.returncode == 0, done.stderr
    (answer,) = kept_answers(example)
    header = answers.header_of(str(answer))
    named = set(header["files"])
    folders = tuple(header["folders"])
    assert "reconciler.yaml" in named
    assert folders
    if args[0] == "plan":
        assert ".reconciler/sandbox/ledger.json" in named
        assert any(n.startswith(".reconciler/journal/") for n in named)
    above = {"."} | {p.as_posix() for n in named for p in Path(n).parents}
    # An entry of sys.path that names no folder (an editable install's import hook) is looked
    # up in the working folder by Python's import system: no file of the repository.
    hooks = {entry for entry in sys.path if entry and not os.path.isabs(entry)}
    unexplained = {
        path
        for path in _touched(log, example)
        if path not in named
        and path not in above
        and not path.startswith((".reconciler/cache", *(f + "/" for f in folders)))
        and path not in folders
        and path not in hooks
    }
    assert unexplained == set()

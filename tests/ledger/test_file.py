"""The ledger: deterministic JSON written atomically, clear errors, and a lock per ledger."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import Result
from factories import Repo

from reconciler.errors import LedgerError, LockHeld
from reconciler.formats import atomic
from reconciler.ledger import file as ledger_file
from reconciler.ledger import lock as ledger_lock
from reconciler.ledger import model as ledgers


def entry(identity: str = "1.2.3", *, active: bool = True, city: str = "Madison") -> ledgers.Entry:
    return ledgers.make_entry(
        kind="organization",
        identity=identity,
        envelope={"Directory": "Carequality"},
        payload={"Name": "Ünïcode Clinic", "Active": active, "Address": {"City": city}},
        active=active,
        source="orgs/a.yaml",
        commit="abc123",
    )


def intent(identity: str = "1.2.4") -> ledgers.Intent:
    return ledgers.Intent(
        kind="organization",
        identity=identity,
        action="create",
        envelope={"Directory": "Carequality"},
        payload={"Name": "Pending"},
        source="orgs/b.yaml",
        started_at="2026-01-01T00:00:00Z",
    )


def sample() -> ledgers.Ledger:
    book = ledgers.Ledger.new("sandbox")
    book = book.with_entry("organization:1.2.3", entry("1.2.3"))
    book = book.with_entry("organization:1.2.5", entry("1.2.5", active=False))
    return book.with_intent("organization:1.2.4", intent())


def test_a_missing_file_is_an_empty_ledger(tmp_path: Path) -> None:
    book = ledger_file.load(tmp_path / "ledger.json", "sandbox")
    assert (book.environment, book.serial, book.records, book.intents) == ("sandbox", 0, {}, {})


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ledger" / "sandbox.json"
    saved = ledger_file.save(path, sample())
    assert saved.serial == 1
    assert saved.lineage  # assigned on the first save
    loaded = ledger_file.load(path, "sandbox")
    assert loaded == saved
    assert loaded.active_count() == 1
    again = ledger_file.save(path, loaded)
    assert (again.serial, again.lineage) == (2, saved.lineage)


def test_the_file_is_sorted_indented_and_ends_with_a_newline(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    ledger_file.save(path, sample())
    text = path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert text.endswith("}\n")
    assert '\n  "environment": "sandbox",\n' in text
    assert "Ünïcode" in text  # readable in a diff, not \u escapes
    assert doc["version"] == 1
    assert sorted(doc) == ["environment", "intents", "lineage", "records", "serial", "version"]


def test_equal_ledgers_give_identical_bytes(tmp_path: Path) -> None:
    book = replace(sample(), lineage="fixed")
    reordered = replace(book, records=dict(reversed(list(book.records.items()))))
    ledger_file.save(tmp_path / "a.json", book)
    ledger_file.save(tmp_path / "b.json", reordered)
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_atomic_write_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("old\n")
    for _ in range(3):
        ledger_file.save(path, sample())
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]
    assert json.loads(path.read_text())["serial"] == 1


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("old\n")
    with pytest.raises(UnicodeEncodeError):
        atomic.atomic_write(path, "\ud800 lone surrogate")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ledger.json"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"version": 1, "records": {', "is corrupt"),
        (b"\xff\xfe not json", "is corrupt"),
        (b"[1, 2]", "is not a reconciler ledger (no version)"),
        (b'{"records": {}}', "is not a reconciler ledger (no version)"),
        (
            b'{"version": 3, "environment": "sandbox", "lineage": "x", "serial": 1}',
            "has format version 3; this reconciler reads versions 1 and 2: upgrade "
            "redox-reconciler",
        ),
        (b'{"version": 1, "environment": "sandbox"}', "is corrupt at lineage: Field required"),
        (
            b'{"version": 1, "environment": "sandbox", "lineage": "x", "serial": -1}',
            "is corrupt at serial:",
        ),
    ],
)
def test_an_unreadable_ledger_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "ledger.json"
    path.write_bytes(content)
    with pytest.raises(LedgerError) as caught:
        ledger_file.load(path, "sandbox")
    assert str(caught.value).startswith(f"the ledger {path} ")
    assert message in str(caught.value)


def test_a_corrupt_ledger_says_to_restore_it_from_git(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    with pytest.raises(LedgerError, match=r"restore the last committed version \(git checkout"):
        ledger_file.load(path, "sandbox")


def test_a_ledger_of_another_environment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    ledger_file.save(path, sample())
    with pytest.raises(LedgerError) as caught:
        ledger_file.load(path, "production")
    assert str(caught.value) == (
        f"the ledger {path} belongs to environment 'sandbox', not 'production': check the "
        "ledger paths in reconciler.yaml"
    )


def test_entries_and_intents_update_immutably() -> None:
    book = ledgers.Ledger.new("sandbox").with_intent("organization:1.2.3", intent("1.2.3"))
    updated = book.with_entry("organization:1.2.3", entry())
    assert updated.intents == {}  # recording the outcome settles the intent
    assert book.intents  # the original is unchanged
    assert updated.without_intent("organization:1.2.3") == updated
    assert updated.records["organization:1.2.3"].digest == ledgers.entry_digest(
        {"Directory": "Carequality"}, entry().payload
    )


HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from reconciler.ledger import lock as ledger_lock
    with ledger_lock.lock(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.read()
    """
)


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Start a process that holds the lock at tmp_path/apply.lock; yields (path, process)."""
    path = tmp_path / "locks" / "apply.lock"
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "locked\n"
        yield path, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()


def test_a_second_lock_fails_at_once_naming_the_holder(
    holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, process = holder
    with pytest.raises(LockHeld) as caught, ledger_lock.lock(path):
        pytest.fail("acquired a lock that another process holds")
    message = str(caught.value)
    assert f"on host {socket.gethostname()}, pid {process.pid}, started 20" in message
    assert str(path) in message
    assert "apply" in message
    assert isinstance(caught.value, LedgerError)


def test_a_lock_left_by_a_killed_process_is_acquired_again(
    holder: tuple[Path, subprocess.Popen[str]], caplog: pytest.LogCaptureFixture
) -> None:
    path, process = holder
    process.kill()  # SIGKILL; TerminateProcess on Windows: no chance to release anything
    process.wait()
    holder = ledger_lock.holder_file(path)
    assert json.loads(holder.read_text())["pid"] == process.pid  # the killed holder's record
    with ledger_lock.lock(path):
        held = json.loads(holder.read_text())
        assert held["pid"] == os.getpid()
    assert holder.read_text() == ""  # released: the holder is cleared
    # The stale holder was recognised, and named.
    assert f"pid {process.pid}" in caplog.text
    assert "ended without releasing it" in caplog.text


def test_a_lock_is_released_on_exit_and_on_error(tmp_path: Path) -> None:
    path = tmp_path / "apply.lock"
    with pytest.raises(RuntimeError), ledger_lock.lock(path):
        raise RuntimeError("boom")
    with ledger_lock.lock(path):
        pass


@pytest.mark.parametrize("dropped", ["records", "intents"])
@pytest.mark.parametrize("command", [("plan",), ("show",), ("apply", "--yes")])
def test_a_ledger_without_records_or_intents_is_refused_and_left_as_it_is(
    repo: Callable[..., Repo],
    run_cli: Callable[..., Result],
    dropped: str,
    command: tuple[str, ...],
) -> None:
    # A bad merge can drop the key. Read as empty, the ledger would plan every record as a
    # create and the next apply would rewrite it, forgetting what the environment holds.
    made = repo(example=True)
    made.settle()
    path = made.ledger_path()
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["records"], "the ledger should hold the example's records"
    del document[dropped]
    damaged = json.dumps(document, indent=2, sort_keys=True) + "\n"
    path.write_text(damaged, encoding="utf-8")

    result = run_cli(*command, repo=made)

    assert result.exit_code == 1, result.output
    shown = made.workspace().environment.ledger
    assert f"the ledger {shown} is corrupt at {dropped}: Field required" in result.output
    assert path.read_text(encoding="utf-8") == damaged
    assert not (made.root / ".reconciler" / "sandbox" / "requests.jsonl").exists()

"""The apply journal: a change costs one appended line, not a rewrite of the ledger; ledger plus
journal is the truth until the ledger file is rewritten; a damaged journal is a clear error."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import Result
from factories import Repo, organization

from reconciler.errors import LedgerError
from reconciler.ledger import file as ledger_file
from reconciler.ledger import journal
from reconciler.ledger import model as ledgers
from reconciler.ledger.store import LedgerStore
from reconciler.ledger.writer import COMPACT_EVERY, LedgerWriter

ENV = "sandbox"


def entry(n: int, *, city: str = "Madison") -> ledgers.Entry:
    return ledgers.make_entry(
        kind="organization",
        identity=f"1.2.{n}",
        envelope={"Directory": "Carequality"},
        payload={"Name": f"Clinic {n}", "Active": True, "Address": {"City": city}},
        active=True,
        source=f"orgs/{n}.yaml",
        commit=None,
    )


def intent(n: int) -> ledgers.Intent:
    return ledgers.Intent(
        kind="organization",
        identity=f"1.2.{n}",
        action="create",
        envelope={"Directory": "Carequality"},
        payload={"Name": f"Clinic {n}"},
        source=f"orgs/{n}.yaml",
        started_at="2026-01-01T00:00:00Z",
    )


def key(n: int) -> str:
    return f"organization:1.2.{n}"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def store_of(ledger_path: Path) -> LedgerStore:
    """The store of a ledger file at the top of a repository (its folder)."""
    root = ledger_path.parent.resolve()
    return LedgerStore(
        path=ledger_path,
        environment=ENV,
        shown="ledger.json",
        root=root,
        local=root / ".reconciler",
    )


@pytest.fixture
def paths(tmp_path: Path) -> tuple[Path, Path]:
    ledger_path = tmp_path / "ledger.json"
    return ledger_path, store_of(ledger_path).journal_path


def saved_ledger(path: Path, count: int) -> ledgers.Ledger:
    book = ledgers.Ledger.new(ENV)
    for n in range(count):
        book = book.with_entry(key(n), entry(n))
    return ledger_file.save(path, book)


def read(paths: tuple[Path, Path]) -> ledgers.Ledger:
    return store_of(paths[0]).read()


def run(coro: Callable[[], object]) -> None:
    async def main() -> None:
        await coro()  # type: ignore[misc]

    asyncio.run(main())


def test_a_durable_change_appends_to_the_journal_and_leaves_the_ledger_file(
    paths: tuple[Path, Path],
) -> None:
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 50)
    before = ledger_path.read_bytes()
    writer = LedgerWriter(ledger_path, start, journal=journal_path, clock=Clock())

    async def work() -> None:
        writer.update(lambda book: book.with_intent(key(60), intent(60)))
        await writer.durable()
        writer.update(lambda book: book.with_entry(key(60), entry(60)))
        writer.update(lambda book: book.with_intent(key(61), intent(61)))
        writer.update(lambda book: book.without_intent(key(61)))
        await writer.durable()

    run(work)

    assert ledger_path.read_bytes() == before  # no rewrite of the 50 records for 4 changes
    lines = journal_path.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0]) == {
        "journal": 1,
        "environment": ENV,
        "lineage": start.lineage,
        "serial": start.serial,
    }
    assert [sorted(json.loads(line)) for line in lines[1:]] == [
        ["intent", "key"],
        ["entry", "key"],
        ["intent", "key"],
        ["key"],
    ]
    durable = read(paths)
    assert durable == replace(writer.state, serial=start.serial + 1)
    assert key(60) in durable.records
    assert durable.intents == {}


def test_flush_rewrites_the_ledger_file_once_and_removes_the_journal(
    paths: tuple[Path, Path],
) -> None:
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 3)
    writer = LedgerWriter(ledger_path, start, journal=journal_path, clock=Clock())

    async def work() -> None:
        for n in range(10, 20):
            writer.update(lambda book, n=n: book.with_intent(key(n), intent(n)))
            await writer.durable()
            writer.update(lambda book, n=n: book.with_entry(key(n), entry(n)))
            writer.save_in_background()
        await writer.flush()

    run(work)

    assert not journal_path.exists()
    on_disk = ledger_file.load(ledger_path, ENV)
    assert on_disk == writer.state
    assert on_disk.serial == start.serial + 1  # one rewrite for the whole run
    assert set(on_disk.records) == {key(n) for n in (*range(3), *range(10, 20))}


def test_a_long_run_rewrites_the_ledger_file_and_restarts_the_journal(
    paths: tuple[Path, Path],
) -> None:
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 3)
    clock = Clock()
    writer = LedgerWriter(ledger_path, start, journal=journal_path, clock=clock)

    async def work() -> None:
        writer.update(lambda book: book.with_entry(key(10), entry(10)))
        await writer.durable()
        assert ledger_file.load(ledger_path, ENV).serial == start.serial  # not yet due
        clock.now = COMPACT_EVERY + 1
        writer.update(lambda book: book.with_entry(key(11), entry(11)))
        await writer.durable()  # due: a rewrite starts in the background
        while writer._background:
            await asyncio.sleep(0.01)
        writer.update(lambda book: book.with_entry(key(12), entry(12)))
        await writer.durable()

    run(work)

    on_disk = ledger_file.load(ledger_path, ENV)
    assert on_disk.serial == start.serial + 1
    assert {key(10), key(11)} <= set(on_disk.records)
    assert key(12) not in on_disk.records
    lines = journal_path.read_text(encoding="utf-8").splitlines()
    # The journal restarted on the rewritten ledger, with only what came after.
    assert json.loads(lines[0])["serial"] == on_disk.serial
    assert [json.loads(line)["key"] for line in lines[1:]] == [key(12)]
    assert read(paths) == replace(writer.state, serial=on_disk.serial + 1)


def test_a_change_the_journal_cannot_express_rewrites_the_ledger_file(
    paths: tuple[Path, Path],
) -> None:
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 3)
    writer = LedgerWriter(ledger_path, start, journal=journal_path, clock=Clock())

    async def work() -> None:
        writer.update(lambda book: replace(book, records={key(0): entry(0, city="Verona")}))
        await writer.durable()

    run(work)

    on_disk = ledger_file.load(ledger_path, ENV)
    assert on_disk.serial == start.serial + 1
    assert set(on_disk.records) == {key(0)}


def test_replaying_onto_a_ledger_that_already_holds_part_of_the_journal_is_exact(
    paths: tuple[Path, Path],
) -> None:
    # A crash after the ledger file was rewritten and before the journal was restarted.
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 2)
    edits = [
        ledgers.Edit(key(5), intent=intent(5)),
        ledgers.Edit(key(5), entry=entry(5)),
        ledgers.Edit(key(0), entry=entry(0, city="Verona")),
        ledgers.Edit(key(6), intent=intent(6)),
        ledgers.Edit(key(0), entry=entry(0, city="Fitchburg")),
        ledgers.Edit(key(6)),
    ]
    head = journal.header_line(ENV, start.lineage, start.serial)
    journal_path.parent.mkdir(parents=True)
    journal_path.write_text(head + "".join(journal.change_line(e) for e in edits))
    expected = start
    for edit in edits:
        expected = expected.edited(edit)
    for done in range(len(edits) + 1):
        partial = start
        for edit in edits[:done]:
            partial = partial.edited(edit)
        rewritten = ledger_file.save(ledger_path, replace(partial, serial=start.serial))
        assert read(paths) == replace(expected, serial=rewritten.serial + 1), done


def test_a_cut_short_last_line_is_ignored(paths: tuple[Path, Path]) -> None:
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 1)
    head = journal.header_line(ENV, start.lineage, start.serial)
    whole = journal.change_line(ledgers.Edit(key(7), entry=entry(7)))
    torn = journal.change_line(ledgers.Edit(key(8), entry=entry(8)))[:40]
    journal_path.parent.mkdir(parents=True)
    journal_path.write_text(head + whole + torn)
    assert set(read(paths).records) == {key(0), key(7)}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("not json at all\n", "line 2 ("),
        ('{"key": "organization:1.2.9", "entry": {"kind": "organization"}}\n', "entry."),
        ('{"key": "organization:1.2.9", "colour": "blue"}\n', "colour"),
        ('{"key": 7}\n', "key: Input should be a valid string"),
        ("\n", "line 2"),
    ],
)
def test_a_damaged_journal_is_a_clear_error_naming_the_line(
    paths: tuple[Path, Path], line: str, reason: str
) -> None:
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 1)
    head = journal.header_line(ENV, start.lineage, start.serial)
    journal_path.parent.mkdir(parents=True)
    after = journal.change_line(ledgers.Edit(key(7), entry=entry(7)))
    journal_path.write_text(head + line + after)
    with pytest.raises(LedgerError) as caught:
        read(paths)
    message = str(caught.value)
    assert "journal/ledger.json.jsonl is damaged on line 2" in message
    assert reason in message
    assert "reconciler apply --refresh" in message


def test_a_journal_of_another_ledger_is_refused(paths: tuple[Path, Path]) -> None:
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 1)
    journal_path.parent.mkdir(parents=True)
    journal_path.write_text(journal.header_line(ENV, start.lineage, start.serial - 1 + 5))
    with pytest.raises(LedgerError, match="ledger is now at serial 1"):
        read(paths)
    journal_path.write_text(journal.header_line(ENV, "another-lineage", start.serial))
    with pytest.raises(LedgerError, match="Move the journal away"):
        read(paths)


def test_recover_writes_the_journal_into_the_ledger_file(paths: tuple[Path, Path]) -> None:
    ledger_path, journal_path = paths
    start = saved_ledger(ledger_path, 1)
    head = journal.header_line(ENV, start.lineage, start.serial)
    journal_path.parent.mkdir(parents=True)
    journal_path.write_text(head + journal.change_line(ledgers.Edit(key(3), intent=intent(3))))
    seen = read(paths)
    # What a reading command sees, taken before the ledger file is rewritten (its records are
    # read from the file again when asked for, and refuse a file that changed since).
    seen_records = {key: entry.model_dump() for key, entry in seen.records.items()}

    recovered = store_of(ledger_path).recover().state

    assert not journal_path.exists()
    assert recovered == ledger_file.load(ledger_path, ENV)
    assert {key: entry.model_dump() for key, entry in recovered.records.items()} == seen_records
    assert (recovered.intents, recovered.serial) == (seen.intents, seen.serial)
    assert (recovered.serial, list(recovered.intents)) == (start.serial + 1, [key(3)])


def test_the_first_apply_of_a_new_ledger_is_journaled_too(paths: tuple[Path, Path]) -> None:
    ledger_path, journal_path = paths
    writer = LedgerWriter(ledger_path, ledgers.Ledger.new(ENV), journal=journal_path)

    async def work() -> None:
        writer.update(lambda book: book.with_intent(key(1), intent(1)))
        await writer.durable()

    run(work)

    assert not ledger_path.exists()
    seen = read(paths)
    assert (seen.lineage, seen.serial, list(seen.intents)) == (writer.state.lineage, 1, [key(1)])
    assert store_of(ledger_path).recover().state == seen


def test_plan_and_show_read_the_journal_and_a_damaged_one_is_no_traceback(
    repo: Callable[..., Repo], run_cli: Callable[..., Result]
) -> None:
    made = repo(orgs={"a": organization(1), "b": organization(2)})
    made.settle()
    ws = made.workspace()
    current = ws.ledger()
    pending_key, pending = next(iter(current.records.items()))
    # A crashed apply had started a call for a record: plan and show see its intent.
    started = ledgers.Intent(
        kind=pending.kind,
        identity=pending.identity,
        action="update",
        envelope=pending.envelope,
        payload=pending.payload,
        source=pending.source,
        started_at="2026-01-01T00:00:00Z",
    )
    head = journal.header_line(ENV, current.lineage, current.serial)
    ws.ledger_store.journal_path.parent.mkdir(parents=True)
    ws.ledger_store.journal_path.write_text(
        head + journal.change_line(ledgers.Edit(pending_key, intent=started))
    )
    shown = run_cli("show", "--format", "json", repo=made)
    assert shown.exit_code == 0, shown.output
    assert list(json.loads(shown.output)["intents"]) == [pending_key]
    assert json.loads(shown.output)["serial"] == current.serial + 1

    ws.ledger_store.journal_path.write_text(head + '{"key": "x", "entry": 5}\n')
    failed = run_cli("plan", repo=made)
    assert failed.exit_code == 1
    assert "is damaged on line 2" in failed.output

"""The unverified mark (ledger/model.py): written only when set, version 2 only while a record
carries it, read the same by the whole reading, the lean reading and the journal; a ledger
written before the mark existed still reads."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from factories import ledger_entry

from reconciler.ledger import file as ledger_file
from reconciler.ledger import journal
from reconciler.ledger import model as ledgers
from reconciler.ledger import text as ledger_text

ENV = "development"


def entry(n: int, *, unverified: bool = False) -> ledgers.Entry:
    return ledger_entry(n, unverified=unverified)


def ledger(*entries: ledgers.Entry) -> ledgers.Ledger:
    records = {f"organization:{e.identity}": e for e in entries}
    return replace(ledgers.Ledger.new(ENV), records=records)


def test_the_mark_is_written_only_when_set_and_the_version_says_so(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"

    ledger_file.save(path, ledger(entry(1), entry(2)))
    plain = json.loads(path.read_text(encoding="utf-8"))
    assert plain["version"] == 1
    assert all("unverified" not in record for record in plain["records"].values())

    ledger_file.save(path, ledger(entry(1), entry(2, unverified=True)))
    marked = json.loads(path.read_text(encoding="utf-8"))
    assert marked["version"] == 2
    assert "unverified" not in marked["records"]["organization:1.2.1"]
    assert marked["records"]["organization:1.2.2"]["unverified"] is True


def test_the_whole_and_the_lean_reading_read_the_mark_alike(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    ledger_file.save(path, ledger(entry(1), entry(2, unverified=True)))
    raw = path.read_bytes()

    lean = ledger_text.parse(raw, ENV)
    whole = ledger_file.parse(json.dumps(json.loads(raw)).encode(), ENV, name="ledger.json")

    assert lean is not None
    for read in (lean, whole):
        assert read.unverified() == ["organization:1.2.2"]
        assert read.records["organization:1.2.2"].unverified
        assert not read.records["organization:1.2.1"].unverified
    # Written back as read: the mark and the version stay.
    ledger_file.save(path, lean)
    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 2


def test_a_ledger_written_before_the_mark_existed_reads_as_verified(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    ledger_file.save(path, ledger(entry(1)))
    old = json.loads(path.read_text(encoding="utf-8"))
    assert old["version"] == 1

    read = ledger_file.load(path, ENV)

    assert read.unverified() == []
    assert not read.records["organization:1.2.1"].unverified


def test_clearing_the_last_mark_makes_it_version_1_again(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    book = ledger(entry(1, unverified=True))
    assert book.with_verified("organization:1.2.1", False) is book  # already so: no change
    cleared = book.with_verified("organization:1.2.1", True)
    assert cleared.records["organization:1.2.1"].digest == book.records["organization:1.2.1"].digest

    ledger_file.save(path, cleared)

    assert json.loads(path.read_text(encoding="utf-8"))["version"] == 1


def test_the_journal_carries_the_mark(tmp_path: Path) -> None:
    journal_path = tmp_path / "journal.jsonl"
    start = ledgers.Ledger(environment=ENV, lineage="lineage-1", serial=3)
    marked = start.with_entry("organization:1.2.1", entry(1, unverified=True))
    cleared = marked.with_verified("organization:1.2.1", True)
    edits = [marked.edits, cleared.edits]
    lines = [journal.header_line(ENV, "lineage-1", 3)]
    lines += [journal.change_line(edit) for edit in edits if edit is not None]
    journal_path.write_text("".join(lines[:2]), encoding="utf-8")

    halfway = journal.replay(start, journal_path).ledger

    assert halfway.unverified() == ["organization:1.2.1"]
    journal_path.write_text("".join(lines), encoding="utf-8")
    assert journal.replay(start, journal_path).ledger.unverified() == []

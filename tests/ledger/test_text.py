"""The lean ledger: a ledger in the tool's layout is read record by record, each record kept as
its text (written back as it is) with its payload parsed only when asked for; it reads exactly
as the whole file does, and whatever the whole reading refuses, the record-by-record reading
leaves to it (so every error reads the same)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from factories import ledger_entry
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import LedgerError
from reconciler.ledger import file as ledger_file
from reconciler.ledger import model as ledgers
from reconciler.ledger import text as ledger_text

ENV = "sandbox"
# Text that looks like the layout's structure from inside a string.
TRICKY = st.text(
    alphabet=st.sampled_from(["a", " ", '"', "\\", "{", "}", ",", ":", "\n", "é", "\t"]),
    max_size=16,
)
PAYLOAD_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | TRICKY,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY, inner, max_size=3),
    max_leaves=12,
)


def entry(n: int, payload: dict[str, Any] | None = None) -> ledgers.Entry:
    return ledger_entry(n, payload=payload)


def saved(path: Path, entries: dict[str, ledgers.Entry]) -> ledgers.Ledger:
    book = replace(ledgers.Ledger.new(ENV), records=entries)
    return ledger_file.save(path, book)


def compact(raw: bytes) -> bytes:
    """The same document in another layout (which only the whole reading reads)."""
    return json.dumps(json.loads(raw), ensure_ascii=False).encode()


@settings(max_examples=80, deadline=None)
@given(payloads=st.lists(st.dictionaries(TRICKY, PAYLOAD_VALUES, max_size=4), max_size=5))
def test_record_by_record_reads_what_the_whole_file_holds(
    payloads: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("lean") / "ledger.json"
    original = saved(path, {f"organization:1.2.{n}": entry(n, p) for n, p in enumerate(payloads)})
    raw = path.read_bytes()
    if payloads:
        lean = ledger_text.parse(raw, ENV)
        assert lean is not None  # the tool's own layout is read record by record
        assert lean == original
    whole = ledger_file.parse(compact(raw), ENV, name="x")
    assert ledger_file.parse(raw, ENV, name="x") == whole == original


def test_a_lean_record_keeps_its_text_and_parses_its_payload_on_demand(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    saved(path, {f"organization:1.2.{n}": entry(n) for n in range(3)})
    loaded = ledger_file.load(path, ENV)
    record = loaded.records["organization:1.2.1"]
    assert record.payload == {"Name": "Clinic 1", "PartOf": {"Identifier": {"Value": "1.2"}}}
    assert record.parents == ("organization:1.2",)
    assert record.payload is not record.payload  # parsed afresh: the ledger does not hold it
    # Written back as read: a rewrite renders no record that did not change.
    assert f'"organization:1.2.1": {record.rendered()}' in path.read_text(encoding="utf-8")
    again = ledger_file.save(path, loaded)
    text = path.read_text(encoding="utf-8")
    assert text == again.to_json()
    assert json.loads(text)["records"] == {k: e.model_dump() for k, e in loaded.records.items()}


def _mutations(text: str) -> dict[str, str]:
    """Damage a ledger in its own layout, each in a way the whole reading refuses."""
    # One level beyond the whole document's limit, which a record read alone would pass.
    deep = '{"a": ' * 29 + "1" + "}" * 29
    return {
        "unknown kind": text.replace('"kind": "organization"', '"kind": "planet"', 1),
        "key mismatch": text.replace('"identity": "1.2.1"', '"identity": "1.2.9"', 1),
        "extra field": text.replace('"commit": null', '"commit": null,\n      "colour": "red"', 1),
        "too deep": text.replace('"Name": "Clinic 1"', f'"Name": {deep}', 1),
        "big number": text.replace('"Name": "Clinic 1"', '"Name": 1' + "0" * 30, 1),
        "not a number": text.replace('"Name": "Clinic 1"', '"Name": NaN', 1),
        "lone surrogate": text.replace('"Name": "Clinic 1"', '"Name": "\\ud800"', 1),
        "not an object": text.replace(
            '"organization:1.2.1": {', '"organization:1.2.1": 5, "x": {', 1
        ),
        "status": text.replace('"status": "active"', '"status": "retired"', 1),
        "environment": text.replace('"environment": "sandbox"', '"environment": "other"', 1),
        "torn": text[: len(text) // 2],
    }


@pytest.mark.parametrize("damage", sorted(_mutations("")))
def test_what_the_whole_reading_refuses_is_left_to_it(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "ledger.json"
    saved(path, {f"organization:1.2.{n}": entry(n) for n in range(3)})
    text = _mutations(path.read_text(encoding="utf-8"))[damage]
    assert text != path.read_text(encoding="utf-8")
    raw = text.encode()
    assert ledger_text.parse(raw, ENV) is None
    with pytest.raises(LedgerError):
        ledger_file.parse(raw, ENV, name="ledger.json")


def test_a_second_records_key_is_left_to_the_whole_reading(tmp_path: Path) -> None:
    # JSON keeps the last of two equal keys: the whole reading sees no record here.
    path = tmp_path / "ledger.json"
    saved(path, {f"organization:1.2.{n}": entry(n) for n in range(3)})
    text = path.read_text(encoding="utf-8").replace('"serial": 1', '"serial": 1,\n  "records": {}')
    assert ledger_text.parse(text.encode(), ENV) is None
    assert ledger_file.parse(text.encode(), ENV, name="x").records == {}


def test_a_record_written_twice_reads_as_its_last_as_in_the_whole_reading(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    saved(path, {f"organization:1.2.{n}": entry(n) for n in range(3)})
    text = path.read_text(encoding="utf-8")
    first = text.index('    "organization:1.2.1": {')
    end = text.index("\n    }", first) + len("\n    }")
    block = text[first:end]
    twice = text[:end] + ",\n" + block.replace("Clinic 1", "Clinic One") + text[end:]
    lean = ledger_text.parse(twice.encode(), ENV)
    assert lean is not None
    assert lean.records["organization:1.2.1"].payload["Name"] == "Clinic One"
    assert lean == ledger_file.parse(compact(twice.encode()), ENV, name="x")


def test_a_reading_command_reads_a_record_again_and_refuses_a_changed_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.json"
    saved(path, {f"organization:1.2.{n}": entry(n) for n in range(3)})
    reading = ledger_file.load(path, ENV, reading=True)
    record = reading.records["organization:1.2.1"]
    assert record.payload["Name"] == "Clinic 1"  # read from the file again
    # The file is rewritten (another apply): the record's bytes are no longer where they were.
    saved(path, {f"organization:1.2.{n}": entry(n, {"Name": f"Other {n}"}) for n in range(3)})
    with pytest.raises(LedgerError, match="changed while it was being read"):
        record.payload  # noqa: B018
    with pytest.raises(LedgerError, match="changed while it was being read"):
        record.rendered()

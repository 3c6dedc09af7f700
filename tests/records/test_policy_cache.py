"""The compiled policies kept in .reconciler/cache/policies.json (records.policy_cache): what a
run keeps, a later run finds; a damaged, tampered or foreign entry is absent, never truth; a
run that compiled nothing new writes nothing."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from reconciler.policy import KeptForm
from reconciler.policy.cel import FALSE, TRUE, compile_expression
from reconciler.records.policy_cache import FILE, PolicyCache, kept_policies

ENTRY = KeptForm(
    ["relation", "relation_eq", ["select", ["var", "change"], "kind"], ["string", "provider"]],
    (("change", "kind"),),
)


def opened(folder: Path) -> PolicyCache:
    found = PolicyCache.open(folder)
    assert found is not None
    return found


def test_what_a_run_keeps_a_later_run_finds(tmp_path: Path) -> None:
    first = opened(tmp_path)
    assert first.get("change.kind == 'provider'") is None
    first.put("change.kind == 'provider'", ENTRY)
    first.save()
    assert (tmp_path / ".gitignore").read_text().endswith("*\n")  # never committed
    assert opened(tmp_path).get("change.kind == 'provider'") == ENTRY
    assert opened(tmp_path).get("change.kind == 'other'") is None


def test_a_run_that_compiled_nothing_new_writes_nothing(tmp_path: Path) -> None:
    kept = opened(tmp_path)
    kept.put("true", KeptForm(["bool", True], None))
    kept.save()
    before = (tmp_path / FILE).stat().st_mtime_ns
    again = opened(tmp_path)
    assert again.get("true") == KeptForm(["bool", True], None)
    again.save()
    assert (tmp_path / FILE).stat().st_mtime_ns == before
    with kept_policies(tmp_path.parent, enabled=False) as none:
        assert none is None  # --no-cache: neither read nor written


def _tamper(folder: Path, change: Any, *, digest: bool = False) -> None:
    """Change the file's header or entries; `digest`: and give the entries their sha256."""
    path = folder / FILE
    header, entries = (json.loads(line) for line in path.read_text().splitlines())
    change(header, entries)
    body = json.dumps(entries)
    if digest:
        header["sha256"] = hashlib.sha256(body.encode()).hexdigest()
    path.write_text(f"{json.dumps(header)}\n{body}\n")


def _each(entries: dict[str, Any], **values: Any) -> None:
    for entry in entries.values():
        entry.update(values)


@pytest.mark.parametrize(
    ("damage", "digest"),
    [
        (lambda h, e: _each(e, form=["bool", False]), False),  # damaged
        (lambda h, e: _each(e, text="change.kind == 'x'"), True),  # another text's
        (lambda h, e: _each(e, paths=[[1, 2]]), True),
        (lambda h, e: _each(e, form="not a form"), True),
        (lambda h, e: h.update(salt="another compiler, another celpy"), False),
        (lambda h, e: h.update(format=0), False),
    ],
)
def test_a_damaged_or_foreign_entry_is_absent(tmp_path: Path, damage: Any, digest: bool) -> None:
    kept = opened(tmp_path)
    kept.put("change.kind == 'provider'", ENTRY)
    kept.save()
    assert opened(tmp_path).get("change.kind == 'provider'") == ENTRY
    _tamper(tmp_path, damage, digest=digest)
    assert opened(tmp_path).get("change.kind == 'provider'") is None


def test_a_file_that_is_not_json_is_no_cache_and_is_written_again(tmp_path: Path) -> None:
    (tmp_path / FILE).write_bytes(b"\x00{ not json")
    kept = opened(tmp_path)
    assert kept.get("true") is None
    kept.put("true", KeptForm(["bool", True], None))
    kept.save()
    assert opened(tmp_path).get("true") == KeptForm(["bool", True], None)


class _Store:
    """A FormStore handing out one entry, as a forged cache file would."""

    def __init__(self, entry: KeptForm | None) -> None:
        self.entry = entry
        self.kept: dict[str, KeptForm] = {}

    def get(self, text: str) -> KeptForm | None:
        return self.entry

    def put(self, text: str, entry: KeptForm) -> None:
        self.kept[text] = entry


def test_a_form_the_compiler_cannot_build_is_compiled_again_and_kept_anew() -> None:
    text = f'change.kind == "{uuid.uuid4()}"'  # not compiled yet in this process
    store = _Store(KeptForm(["select", ["no such form"], "kind"], None))
    program = compile_expression(text, cache=store)
    change = {"kind": "organization"}
    assert program.evaluate({"change": change, "env": "e", "plan": {}}, dict) == FALSE
    assert store.kept[text].form == [
        "relation",
        "relation_eq",
        ["select", ["var", "change"], "kind"],
        ["string", text.split('"')[1]],
    ]


def test_a_kept_form_is_used_without_parsing() -> None:
    # What the cache holds is what runs: here a form saying the opposite of the text, which
    # only a forged file could hold (the digest makes damage absent, not forgery).
    text = f'change.kind == "{uuid.uuid4()}"'
    store = _Store(KeptForm(["bool", True], None))
    program = compile_expression(text, cache=store)
    assert program.evaluate({"change": {"kind": "x"}, "env": "e", "plan": {}}, dict) == TRUE
    assert store.kept == {}

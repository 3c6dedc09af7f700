"""The apply journal: what an apply changes in the ledger, one fsync'd JSON line per change, so a
call never waits for the whole ledger to be rewritten. The ledger file itself is rewritten
(compacted) only now and then and once at the end; until then ledger + journal is the truth.

Format (version 1), JSON lines in `.reconciler/journal/<environment>.jsonl`:
  {"journal": 1, "environment": ..., "lineage": ..., "serial": S}    the ledger it extends
  {"key": K, "intent": {...}}   a call started (an Intent)
  {"key": K, "entry": {...}}    a call's record (an Entry; it settles K's intent)
  {"key": K}                    K's intent dropped

Every change is an assignment to one key, so replaying the journal over a ledger that already
holds some of its changes gives the same ledger: a crash between rewriting the ledger (serial
S + 1) and restarting the journal loses nothing. A last line cut short by a crash (no final
newline) was never acknowledged, and is ignored; any other damage is an error.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, NoReturn

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import LedgerError
from reconciler.formats import files, jsonfile, redact
from reconciler.formats.atomic import atomic_write, sync_folder
from reconciler.ledger.checks import check_entries
from reconciler.ledger.model import Edit, Entry, EntryFile, Intent, Ledger, LedgerFile

VERSION = 1


class _Line(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, defer_build=True)


class Header(_Line):
    """The first line: the ledger (environment, lineage, serial) the changes extend."""

    journal: Literal[1]
    environment: str
    lineage: str = Field(min_length=1)
    serial: int = Field(ge=0)


class Change(_Line):
    """One change: exactly one of `entry` or `intent`, or neither (the intent dropped)."""

    key: str = Field(min_length=1)
    entry: EntryFile | None = None
    intent: Intent | None = None


def header_line(environment: str, lineage: str, serial: int) -> str:
    """The first line of a journal extending that ledger."""
    head = {"journal": VERSION, "environment": environment, "lineage": lineage, "serial": serial}
    return json.dumps(head, ensure_ascii=False) + "\n"


def change_line(edit: Edit) -> str:
    """The journal line of one change."""
    line: dict[str, Any] = {"key": edit.key}
    if edit.entry is not None:
        line["entry"] = edit.entry.model_dump()
    elif edit.intent is not None:
        line["intent"] = edit.intent.model_dump()
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


@dataclass(frozen=True)
class Replayed:
    """A ledger with a journal's changes made, and how many there were."""

    ledger: Ledger
    changes: int


def replay(
    ledger: Ledger, path: Path, *, shown: str | None = None, root: Path | None = None
) -> Replayed:
    """`ledger` (as on disk) with the changes of the journal at `path` made; the serial is one
    more when there were any, the serial the ledger gets once they are written into it. `root`
    (resolved) is the repository no symlink may lead out of."""
    name = shown or str(path)
    try:
        raw = files.read_bytes(
            path, root=root or path.parent.resolve(), limit=files.MAX_DOCUMENT_BYTES
        )
    except FileNotFoundError:
        return Replayed(ledger, 0)
    except files.Unreadable as exc:
        raise LedgerError(f"the apply journal {name} {exc}: move it away") from None
    except OSError as exc:
        raise LedgerError(f"cannot read the apply journal {name}: {exc.strerror}") from None
    lines = raw.split(b"\n")
    # A last line without its newline is a write a crash cut short: it was never acknowledged,
    # so no call was sent on its strength.
    lines.pop()
    if not lines:
        return Replayed(ledger, 0)
    header = _parse(Header, lines[0], name, 1)
    _check_extends(header, ledger, name)
    current = ledger
    if not current.lineage:  # the first apply: the ledger file is not written yet
        current = replace(current, lineage=header.lineage)
    edits = []
    for number, raw_line in enumerate(lines[1:], start=2):
        change = _parse(Change, raw_line, name, number)
        _check_change(change, name, number)
        entry = Entry.of(change.entry) if change.entry is not None else None
        edits.append(Edit(change.key, entry=entry, intent=change.intent))
    current = current.edited(*edits)
    changes = len(lines) - 1
    if changes:
        current = replace(current, serial=ledger.serial + 1)
    return Replayed(replace(current, edits=None), changes)


def _parse(model: type[Header] | type[Change], raw: bytes, name: str, number: int) -> Any:
    """One line, read as strictly as the ledger (jsonfile's bounds, then the model)."""
    try:
        return model.model_validate(jsonfile.loads(raw))
    except jsonfile.JsonProblem as exc:
        _corrupt(name, number, str(exc))
    except ValidationError as exc:
        _corrupt(name, number, str(jsonfile.first_error(exc)))


def _check_change(change: Change, name: str, number: int) -> None:
    """A change's record or intent must be keyed as the ledger keys it, by a known kind, and an
    intent's action must be one a plan holds: the ledger's own checks."""
    if change.entry is not None and change.intent is not None:
        _corrupt(name, number, "a change holds both an entry and an intent")
    records = {change.key: change.entry} if change.entry is not None else {}
    intents = {change.key: change.intent} if change.intent is not None else {}
    one = LedgerFile.model_construct(
        version=1, environment="", lineage="", serial=0, records=records, intents=intents
    )
    try:
        check_entries(one)
    except jsonfile.JsonProblem as exc:
        _corrupt(name, number, str(exc))


def _corrupt(name: str, number: int, reason: str) -> NoReturn:
    raise LedgerError(
        f"the apply journal {name} is damaged on line {number} ({reason}). It is written only "
        "by reconciler, which never leaves it so: do not edit it. If it cannot be restored, "
        "move it away; the calls it recorded are then unknown to the ledger, so run "
        "`reconciler apply --refresh` to plan against what the directory really holds"
    )


def _check_extends(header: Header, ledger: Ledger, name: str) -> None:
    """The journal must extend this ledger: the same lineage, written at its serial or one
    before (a crash after the ledger was rewritten and before the journal was restarted)."""
    if header.environment != ledger.environment:
        raise LedgerError(
            f"the apply journal {name} belongs to environment {header.environment!r}, not "
            f"{ledger.environment!r}: move it away"
        )
    fresh = not ledger.lineage and ledger.serial == 0 and header.serial == 0
    if fresh or (
        header.lineage == ledger.lineage and header.serial in (ledger.serial, ledger.serial - 1)
    ):
        return
    raise LedgerError(
        f"the apply journal {name} was left by an apply interrupted at ledger serial "
        f"{header.serial} (lineage {header.lineage}), but the ledger is now at serial "
        f"{ledger.serial} (lineage {ledger.lineage or 'none'}): it was replaced since (git pull "
        "or checkout?), so the journal's changes cannot be replayed onto it. Move the journal "
        "away, then run `reconciler apply --refresh` to plan against what the directory holds"
    )


# -- writing --------------------------------------------------------------------------------


class JournalFile:
    """The journal being appended to. Every method does blocking I/O: run it in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @property
    def started(self) -> bool:
        return self._fd is not None

    def start(self, head: str, lines: list[str]) -> None:
        """Replace the journal, atomically, by one that holds `head` and `lines`, and append
        to it from now on."""
        atomic_write(self.path, [head, *lines])
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.close()
        self._fd = fd

    def append(self, lines: list[str]) -> None:
        """Append `lines` and make them durable (fsync)."""
        assert self._fd is not None, "start() the journal first"
        data = redact.redact("".join(lines)).encode("utf-8")  # as atomic_write masks
        while data:
            written = os.write(self._fd, data)
            data = data[written:]
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def remove(self) -> None:
        """Close and delete the journal: everything it held is in the ledger file."""
        self.close()
        remove(self.path)


def remove(path: Path) -> None:
    """Delete a journal (its changes are in the ledger file), durably."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
        sync_folder(path.parent)

"""Reading a ledger file record by record, so that a ledger of 100,000 records is never held
as one parsed document: each record is parsed and checked on its own, and kept as its text in
the file (which a rewrite of the ledger copies as it is) with what a plan needs of it.

The ledger is written in one layout (sorted keys, two-space indent) and a JSON string holds no
raw newline, so that layout's lines are its structure: a record begins on a line
`    "<key>": {` and ends on the line `    }`, and every line between is indented further.
A file that does not split that way is read whole (file.parse), which is also where
every error is reported: this path accepts a file only when each of its parts passes every
check the whole reading makes (jsonfile's bounds, the models, the keys), and otherwise steps
aside.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from reconciler.errors import LedgerError, ReconcilerError
from reconciler.formats import jsonfile
from reconciler.formats.jsontext import Rendered
from reconciler.ledger.checks import check_entries
from reconciler.ledger.model import VERSION, VERSIONS, Entry, Ledger, LedgerFile, parents_of

_RECORDS = b'\n  "records": {\n'
_END = b"\n  }"  # the line that closes `records`: nothing inside is indented this little
_START = re.compile(rb'^    ("(?:[^"\\\n]|\\.)*"): \{$', re.MULTILINE)
_SHALLOW = re.compile(rb"\n(?!      )")  # a line inside a record indented less than its fields
_CLOSE = b"\n    }"
# A record sits two levels down in the document (the document, then `records`).
_DEPTH = jsonfile.MAX_DEPTH - 2
_BATCH = 1000
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class InBytes:
    """A record's JSON in the bytes of its ledger file, which every record read from the file
    shares (held once, not copied record by record): what a writer of the ledger keeps."""

    data: bytes
    start: int
    end: int

    def text(self) -> Rendered:
        return Rendered(self.data[self.start : self.end].decode("utf-8"))

    def value(self) -> Any:
        return json.loads(self.data[self.start : self.end])


@dataclass(frozen=True, slots=True)
class OnDisk:
    """A record's JSON read from the ledger file again when asked for: what a command that
    only reads keeps (a plan asks for the few records that change). The bytes must be the ones
    read first (their CRC-32), or the file changed meanwhile: an error, never other data."""

    path: Path
    start: int
    end: int
    crc: int

    def _bytes(self) -> bytes:
        with self.path.open("rb") as handle:
            handle.seek(self.start)
            data = handle.read(self.end - self.start)
        if zlib.crc32(data) != self.crc:
            raise LedgerError(
                f"the ledger {self.path} changed while it was being read: run the command again"
            )
        return data

    def text(self) -> Rendered:
        return Rendered(self._bytes().decode("utf-8"))

    def value(self) -> Any:
        return json.loads(self._bytes())


def parse(raw: bytes, environment: str, *, path: Path | None = None) -> Ledger | None:
    """The ledger of a file in the layout the tool writes, every part checked; None when the
    file must be read whole instead (another layout, or anything that fails a check). Its
    records keep `raw` (once, shared) for their JSON; or, given the file's `path`, only where
    their JSON is in it (to read it again when asked for)."""
    at = raw.find(_RECORDS)
    if at < 0 or raw.find(_RECORDS, at + 1) >= 0:
        return None
    body = at + len(_RECORDS)
    end = raw.find(_END, body - 1)
    if end < 0:
        return None
    skeleton = raw[: body - 1] + b"}" + raw[end + len(_END) :]  # `"records": {}`
    try:
        head = _skeleton(skeleton, environment)
        records = _records(raw, body, end, path)
    except (jsonfile.JsonProblem, ValidationError, ReconcilerError, ValueError):
        return None
    if head is None or records is None:
        return None
    return Ledger(
        environment=head.environment,
        lineage=head.lineage,
        serial=head.serial,
        records=records,
        intents=dict(head.intents),
    )


def _skeleton(text: bytes, environment: str) -> LedgerFile | None:
    """The document without its records, checked as file.parse checks a whole one."""
    # The whole reading keeps the last of two equal keys: one `records` only, or it decides.
    top = json.loads(text, object_pairs_hook=lambda pairs: pairs)
    if not isinstance(top, list) or len({key for key, _ in top}) != len(top):
        return None
    doc = jsonfile.loads(text)
    if not isinstance(doc, dict) or doc.get("version") not in VERSIONS or doc.get("records") != {}:
        return None
    head = LedgerFile.model_validate(doc)
    check_entries(head)
    return head if head.environment == environment else None


def _records(raw: bytes, body: int, end: int, path: Path | None) -> dict[str, Entry] | None:
    """Each record between `"records": {` (ending at `body`) and its closing line (at `end`),
    checked and kept lean; None when they are not in the layout."""
    # (where the key is, as JSON; where the record's JSON is), for each record in turn.
    spans: list[tuple[int, int, int, int]] = []
    for match in _START.finditer(raw, body, end):
        if spans:
            if not raw.startswith(b",\n", match.start() - 2):
                return None
            spans[-1] = (*spans[-1][:3], match.start() - 2)
        elif match.start() != body:
            return None
        spans.append((match.start(1), match.end(1), match.end() - 1, end))
    if not spans:
        return None
    for _, _, opening, stop in spans:
        close = stop - len(_CLOSE)
        if not raw.startswith(_CLOSE, close, stop) or _SHALLOW.search(raw, opening, close):
            return None
    records: dict[str, Entry] = {}
    shared = _Shared()
    for first in range(0, len(spans), _BATCH):
        batch = spans[first : first + _BATCH]
        # A batch is parsed and validated as one object (the work stays in C and Rust), then
        # let go. Equal keys keep the last, as in the whole file.
        joined = b"{" + b",".join(raw[k:e] + b": " + raw[a:b] for k, e, a, b in batch) + b"}"
        parsed = LedgerFile.model_validate(
            {
                "version": VERSION,
                "environment": "",
                "lineage": "",
                "serial": 0,
                "records": jsonfile.loads(joined, depth=_DEPTH + 1),
                "intents": {},
            }
        )
        check_entries(parsed)
        if len(parsed.records) == len(batch):  # no key twice: the records are in file order
            places = ((a, b) for _, _, a, b in batch)
        else:
            last = {json.loads(raw[k:e]): (a, b) for k, e, a, b in batch}
            places = (last[key] for key in parsed.records)
        for (key, model), (a, b) in zip(parsed.records.items(), places, strict=True):
            records[key] = Entry(
                kind=shared(model.kind),
                identity=model.identity,
                envelope=shared.envelope(model.envelope),
                digest=model.digest,
                source=model.source,
                commit=shared(model.commit),
                applied_at=shared(model.applied_at),
                status=shared(model.status),
                unverified=model.unverified,
                in_file=(
                    InBytes(raw, a, b)
                    if path is None
                    else OnDisk(path, a, b, zlib.crc32(memoryview(raw)[a:b]))
                ),
                parents=shared(parents_of(model.kind, model.payload)),
            )
    return records


class _Shared:
    """One object for each value that many records hold alike (their kind, status, envelope,
    parents, the second they were applied in): 100,000 records hold a few hundred of them."""

    def __init__(self) -> None:
        self._seen: dict[Any, Any] = {}

    def __call__(self, value: T) -> T:
        if value is None:
            return value
        found: T = self._seen.setdefault(value, value)
        return found

    def envelope(self, envelope: dict[str, Any]) -> dict[str, Any]:
        try:
            key = ("envelope", *sorted(envelope.items()))
            found: dict[str, Any] = self._seen.setdefault(key, envelope)
        except TypeError:  # a value that is a list or a mapping: kept as it is
            return envelope
        return found

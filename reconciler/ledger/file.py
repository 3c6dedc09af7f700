"""The ledger file: read whole and checked, or written atomically.

The ledger is written only by the tool, but it lives in git, where a hand edit, a bad merge or
a hostile pull request can change it. So it is read back as strictly as the user's YAML, in
steps that each say what they guarantee to everything after them:

1. `read_ledger_bytes`: a regular file inside the repository (never a FIFO, a device or a
   symlink out of the repository);
2. `jsonfile.loads`: plain JSON, nested at most jsonfile.MAX_DEPTH levels, no NaN or Infinity,
   no number beyond 64 bits;
3. `checks.check_version`, then `LedgerFile` (pydantic): the types and keys of the format;
4. `checks.check_entries`: each record's and intent's key is `<kind>:<identity>` of a known
   kind, and each intent's action is one a plan can hold.

A failure names the file, the path inside it and the fix (restore the committed version); a
corrupt ledger is never overwritten, because every writer loads it first.

A ledger in the layout the tool writes is read record by record (text.py), with each of these
checks made on every part; anything else is read whole, as above.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path

from pydantic import ValidationError

from reconciler.errors import LedgerError, quoted
from reconciler.formats import files, jsonfile
from reconciler.formats.atomic import atomic_write
from reconciler.formats.jsontext import without_gc
from reconciler.ledger import text
from reconciler.ledger.checks import check_entries, check_version, corrupt
from reconciler.ledger.model import Entry, Ledger, LedgerFile


def read_ledger_bytes(path: Path, *, name: str, root: Path | None) -> bytes | None:
    """The bytes of the ledger file, None when there is none yet. `root` (resolved) is the
    repository the file and any symlink to it must stay inside."""
    try:
        if root is not None:
            # Also when the file does not exist yet: the ledger's folder may not lead out.
            files.inside_or_absent(path, root)
        return files.read_bytes(
            path, root=root or path.parent.resolve(), limit=files.MAX_DOCUMENT_BYTES
        )
    except FileNotFoundError:
        return None
    except files.Unreadable as exc:
        raise LedgerError(
            f"the ledger {name} {exc}; check the ledger path in reconciler.yaml"
        ) from None
    except OSError as exc:
        raise LedgerError(f"cannot read the ledger {name}: {exc.strerror or exc}") from None


def parse(raw: bytes, environment: str, *, name: str, path: Path | None = None) -> Ledger:
    """A ledger from the bytes of its file, checked in full (steps 2 to 4 above). With the
    file's `path`, its records are read from it again when asked for (text.OnDisk)."""
    lean = text.parse(raw, environment, path=path)  # record by record, when it can
    if lean is not None:
        return lean
    try:
        doc = jsonfile.loads(raw)
    except jsonfile.JsonProblem as exc:
        raise corrupt(name, exc) from None
    check_version(doc, name)
    try:
        parsed = LedgerFile.model_validate(doc)
        check_entries(parsed)
    except ValidationError as exc:
        raise corrupt(name, jsonfile.first_error(exc)) from None
    except jsonfile.JsonProblem as exc:
        raise corrupt(name, exc) from None
    if parsed.environment != environment:
        raise LedgerError(
            f"the ledger {name} belongs to environment {quoted(parsed.environment)}, not "
            f"{quoted(environment)}: check the ledger paths in reconciler.yaml"
        )
    return Ledger(
        environment=parsed.environment,
        lineage=parsed.lineage,
        serial=parsed.serial,
        records={key: Entry.of(entry) for key, entry in parsed.records.items()},
        intents=dict(parsed.intents),
    )


@without_gc
def load(
    path: Path,
    environment: str,
    *,
    shown: str | None = None,
    root: Path | None = None,
    reading: bool = False,
) -> Ledger:
    """The ledger at `path`; an empty one (no lineage yet) when the file does not exist.
    Problems name the file as `shown` (e.g. relative to the repository) when given; `root`
    (resolved) is the repository no symlink may lead out of. `reading`: for a command that
    only reads the ledger, whose records need not hold the file's bytes."""
    name = shown or str(path)
    raw = read_ledger_bytes(path, name=name, root=root)
    if raw is None:
        return Ledger.new(environment)
    return parse(raw, environment, name=name, path=path if reading else None)


def save(path: Path, ledger: Ledger) -> Ledger:
    """Write `ledger` with serial + 1, atomically: a reader sees the old file or the new one."""
    saved = replace(ledger, serial=ledger.serial + 1, lineage=ledger.lineage or str(uuid.uuid4()))
    atomic_write(path, saved.json_chunks())
    return saved

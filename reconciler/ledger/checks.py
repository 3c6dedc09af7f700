"""The checks every reading of the ledger makes, whole (file.py), record by record (text.py)
or change by change (journal.py): the format's version, and keys and actions that a plan can
hold. A failure is a LedgerError naming the file, the path inside it and the fix."""

from __future__ import annotations

from typing import Any

from reconciler.errors import LedgerError, ReconcilerError, quoted
from reconciler.formats import jsonfile
from reconciler.kinds import kind_of
from reconciler.ledger.model import VERSIONS, LedgerFile
from reconciler.model import Action, make_key

_ACTIONS = frozenset(action.value for action in Action)


def corrupt(name: str, problem: jsonfile.JsonProblem) -> LedgerError:
    """The error of a ledger that fails a check, with the fix."""
    where = f" at {problem.where}" if problem.where else ""
    return LedgerError(
        f"the ledger {name} is corrupt{where}: {problem.message}. Only reconciler writes it: "
        f"restore the last committed version (git checkout -- {name}) rather than editing it. "
        "Nothing was applied, and the file was left as it is."
    )


def check_version(doc: Any, name: str) -> None:
    """LedgerError unless `doc` is a ledger document of the version this reconciler reads."""
    if not isinstance(doc, dict) or "version" not in doc:
        raise LedgerError(
            f"the ledger {name} is not a reconciler ledger (no version): restore it from git "
            f"(git checkout -- {name}), or remove it if it was never applied"
        )
    if doc["version"] not in VERSIONS:
        readable = " and ".join(str(v) for v in sorted(VERSIONS))
        raise LedgerError(
            f"the ledger {name} has format version {quoted(doc['version'])}; this reconciler "
            f"reads versions {readable}: upgrade redox-reconciler"
        )


def check_entries(parsed: LedgerFile) -> None:
    """JsonProblem unless every record and intent is keyed `<kind>:<identity>` by a known kind
    and every intent's action is a plan's. (The payload is any JSON object: what the kinds read
    of it, they read defensively.)"""
    for section, items in (("records", parsed.records), ("intents", parsed.intents)):
        for key, item in items.items():
            where = jsonfile.dotted((section, key))
            try:
                kind_of(item.kind)
            except ReconcilerError as exc:
                raise jsonfile.JsonProblem(str(exc), where + ".kind") from None
            if key != make_key(item.kind, item.identity):
                raise jsonfile.JsonProblem(
                    f"the key does not match kind {quoted(item.kind)} and identity "
                    f"{quoted(item.identity)}",
                    where,
                )
    for key, intent in parsed.intents.items():
        if intent.action not in _ACTIONS:
            raise jsonfile.JsonProblem(
                f"{quoted(intent.action)} is not an action (one of {', '.join(sorted(_ACTIONS))})",
                jsonfile.dotted(("intents", key, "action")),
            )

"""A plan saved with `plan --out`, read back for `apply PLANFILE` as strictly as the user's YAML:
plain bounded JSON (jsonfile), the document's types and keys (PlanDocument), known kinds,
payloads that carry their identity, one change per record, and dependencies without a cycle
(a cycle would make apply wait forever). Pure: the caller reads the file."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import PlanError, ReconcilerError, quoted
from reconciler.formats import jsonfile
from reconciler.formats.jsontext import pack
from reconciler.kinds import kind_of
from reconciler.model import Action, Key, make_key
from reconciler.plan.build import dependency_cycle
from reconciler.plan.model import PLAN_FORMAT, Change, FieldChange, Plan


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class FieldChangeDocument(_Strict):
    path: str
    before: Any = None
    after: Any = None
    added: bool = False
    removed: bool = False
    moved_from: str | None = None


class ChangeDocument(_Strict):
    """One item of `changes`; `key` and `name` are derived, for people and tools."""

    action: Literal["create", "update", "deactivate", "reactivate"]
    kind: str
    identity: str = Field(min_length=1)
    key: str | None = None
    name: str | None = None
    source: str | None = None
    depends_on: list[str] = Field(default_factory=list)
    envelope: dict[str, Any] = Field(default_factory=dict)
    before: dict[str, Any] | None
    after: dict[str, Any]
    fields: list[FieldChangeDocument] = Field(default_factory=list)


class PlanDocument(BaseModel):
    """The saved plan. Top-level keys it does not read (the summary, a digest) are ignored, so
    that a field added to the document does not make older plans unreadable."""

    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)

    format_version: int
    environment: str
    lineage: str
    serial: int = Field(ge=0)
    desired_digest: str
    refreshed: bool = False
    unsafe: str | None = Field(None, max_length=1000)
    changes: list[ChangeDocument]


def damaged(name: str, problem: jsonfile.JsonProblem) -> PlanError:
    """The error of a saved plan that fails a check, with the fix."""
    where = f" at {problem.where}" if problem.where else ""
    return PlanError(
        f"the saved plan {name} is damaged{where}: {problem.message}. Make the plan again "
        "(reconciler plan --out FILE) and review it; nothing was applied"
    )


def plan_from_bytes(raw: bytes, *, name: str) -> Plan:
    """The plan in the bytes of a file written by `plan --out`."""
    try:
        doc = jsonfile.loads(raw)
    except jsonfile.JsonProblem as exc:
        raise damaged(name, exc) from None
    return plan_from_document(doc, name=name)


def plan_from_document(doc: Any, *, name: str = "") -> Plan:
    """The plan of a saved plan's JSON document, checked in full; PlanError naming `name`."""
    shown = name or "(unnamed)"
    version = doc.get("format_version") if isinstance(doc, dict) else None
    if version != PLAN_FORMAT:
        raise PlanError(
            f"the saved plan {shown} has format version {quoted(version)}; this reconciler "
            f"reads version {PLAN_FORMAT}: make the plan again with `reconciler plan --out`"
        )
    try:
        parsed = PlanDocument.model_validate(doc)
        changes = tuple(_change(i, c) for i, c in enumerate(parsed.changes))
        check_dependencies(changes)
    except ValidationError as exc:
        raise damaged(shown, jsonfile.first_error(exc)) from None
    except jsonfile.JsonProblem as exc:
        raise damaged(shown, exc) from None
    return Plan(
        environment=parsed.environment,
        lineage=parsed.lineage,
        serial=parsed.serial,
        desired_digest=parsed.desired_digest,
        changes=changes,
        unsafe=parsed.unsafe,
        refreshed=parsed.refreshed,
    )


def _change(index: int, c: ChangeDocument) -> Change:
    where = f"changes[{index}]"
    try:
        kind = kind_of(c.kind)
    except ReconcilerError as exc:
        raise jsonfile.JsonProblem(str(exc), where + ".kind") from None
    key = make_key(c.kind, c.identity)
    if c.key is not None and c.key != key:
        raise jsonfile.JsonProblem(f"the key is not {quoted(key)}", where + ".key")
    if kind.wire_identity(c.after) != c.identity:
        raise jsonfile.JsonProblem(
            f"the record does not carry the identity {quoted(c.identity)}", where + ".after"
        )
    if (c.before is None) != (c.action == "create"):
        raise jsonfile.JsonProblem(
            "a create has no `before`, and every other change has one", where + ".before"
        )
    return Change(
        kind=c.kind,
        identity=c.identity,
        action=Action(c.action),
        envelope=c.envelope,
        before=c.before,
        packed_after=pack(c.after),
        fields=tuple(FieldChange(**f.model_dump()) for f in c.fields),
        source=c.source,
        depends_on=tuple(c.depends_on),
    )


def check_dependencies(changes: Sequence[Change]) -> None:
    """JsonProblem when two changes are of one record, or when changes wait for each other in a
    cycle (apply would wait forever)."""
    position: dict[Key, int] = {}
    for index, change in enumerate(changes):
        if change.key in position:
            raise jsonfile.JsonProblem(
                f"a second change of {quoted(change.key)} (the first is changes"
                f"[{position[change.key]}])",
                f"changes[{index}]",
            )
        position[change.key] = index
    cycle = dependency_cycle({c.key: c.depends_on for c in changes})
    if cycle:
        raise jsonfile.JsonProblem(
            "changes wait for each other in a cycle: " + " -> ".join(quoted(k) for k in cycle),
            f"changes[{position[cycle[0]]}].depends_on",
        )

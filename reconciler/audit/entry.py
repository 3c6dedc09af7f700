"""One line of the audit trail (SPEC 9): its fields, its hash, and the builder an apply calls.

A line is the JSON object of an `AuditEntry`. Its `hash` is `sha256:` and the hex sha256 of the
line's canonical JSON without `hash` (sorted keys, `,` and `:` separators, UTF-8: the
`canonical_json` that plan digests use); its `prev` is the `hash` of the line before it
(`GENESIS` for the first). Changing, removing or reordering a line breaks that chain.

An apply describes what it did as a `Draft` (`entry_for`); the trail seals the draft into an
entry (`seal`: its `seq`, `prev` and `hash`) when it appends it. Every text of a draft is
masked (reconciler.formats.redact) before it is hashed, so no secret of the run reaches the
trail and the chain holds over what is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from reconciler.errors import AuditError
from reconciler.formats import jsonfile, redact
from reconciler.formats.jsontext import canonical_json, digest

HASH_PATTERN = r"^sha256:[0-9a-f]{64}$"  # a line's hash, a plan digest: the same form
GENESIS = "sha256:" + "0" * 64  # the `prev` of the first line
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"

Via = Literal["github", "local"]
# "partial": some records failed; "unverified": applied, but the directory does not show
# every change yet (SPEC 2, Verification); "refused": nothing sent (digest, approval, policy).
Result = Literal["applied", "partial", "interrupted", "unverified", "refused"]
RESULTS: tuple[Result, ...] = ("applied", "partial", "interrupted", "unverified", "refused")
# What happened to one change of the plan: the applier's outcome statuses
# (reconciler.engine.applier.Status), and `unverified` for a call that Redox accepted but the
# directory did not show.
CallStatus = Literal[
    "applied",
    "adopted",
    "overwritten",
    "refused",
    "failed",
    "skipped",
    "resolved",
    "dropped",
    "not_started",
    "in_flight",
    "unverified",
]
ActionName = Literal["create", "update", "deactivate", "reactivate"]

# The order a line's keys are written in (the hash does not depend on it).
FIELDS = (
    "seq",
    "time",
    "environment",
    "actor",
    "via",
    "commit",
    "pull_request",
    "approved_by",
    "plan_digest",
    "policy_overrides",
    "result",
    "calls",
    "prev",
    "hash",
)

Text = Annotated[StrictStr, Field(max_length=1000)]
Hash = Annotated[StrictStr, Field(pattern=HASH_PATTERN)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Call(_Frozen):
    """One change of the plan and what became of it: the record's key (`kind:identity`), the
    action, its status and the Redox log ID of the answer (`Meta.Logs[0].ID`; None when no
    answer carried one, or no call was sent)."""

    key: Annotated[StrictStr, Field(min_length=3, max_length=1000, pattern=r"^[a-z][a-z0-9_]*:.")]
    action: ActionName
    status: CallStatus
    redox_log_id: Text | None


class Draft(_Frozen):
    """What one apply did, before the trail gives it its place (`seq`, `prev`, `hash`)."""

    time: Annotated[StrictStr, Field(pattern=TIME_PATTERN)]
    environment: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    actor: Annotated[StrictStr, Field(min_length=1, max_length=1000)]
    via: Via
    commit: Annotated[StrictStr, Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")] | None
    pull_request: Annotated[StrictInt, Field(ge=1, lt=2**63)] | None
    approved_by: tuple[Text, ...]
    plan_digest: Hash | None
    policy_overrides: tuple[Text, ...]
    result: Result
    calls: tuple[Call, ...]


class AuditEntry(Draft):
    """One line of the trail, as written."""

    seq: Annotated[StrictInt, Field(ge=1, lt=2**63)]
    prev: Hash
    hash: Hash

    def document(self) -> dict[str, Any]:
        """The line's JSON object, its keys in the order they are written."""
        return line_document(self.model_dump(mode="json"))


class Outcome(Protocol):
    """What `calls_of` reads of one outcome of an apply (reconciler.engine.applier.Outcome)."""

    @property
    def key(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def status(self) -> str: ...


def calls_of(
    outcomes: Iterable[Outcome], log_ids: Mapping[str, str | None] | None = None
) -> tuple[Call, ...]:
    """One Call per outcome, in their order; the Redox log ID of each from the outcome's own
    `redox_log_id` when it has one, else from `log_ids` (key -> ID)."""
    ids = log_ids or {}
    return tuple(
        _call(
            {
                "key": o.key,
                "action": getattr(o.action, "value", o.action),
                "status": o.status,
                "redox_log_id": getattr(o, "redox_log_id", None) or ids.get(o.key),
            }
        )
        for o in outcomes
    )


def _call(values: dict[str, Any]) -> Call:
    try:
        return Call.model_validate(masked(values))
    except ValidationError as exc:
        raise AuditError(f"a call of the audit entry is not valid: {_first(exc)}") from None


def result_of(
    outcomes: Iterable[Outcome], *, interrupted: bool, unverified: bool = False
) -> Result:
    """The `result` of an apply that sent its calls: `interrupted` when it was stopped,
    `partial` when a record failed or was skipped, `unverified` when the directory did not
    show every change, else `applied`."""
    if interrupted:
        return "interrupted"
    unfinished = {"failed", "refused", "skipped", "not_started", "in_flight"}
    if any(o.status in unfinished for o in outcomes):
        return "partial"
    return "unverified" if unverified else "applied"


def utc_now() -> str:
    """The time now, as a line records it: UTC, ISO 8601 to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def entry_for(
    *,
    environment: str,
    actor: str,
    via: Via,
    result: Result,
    commit: str | None = None,
    pull_request: int | None = None,
    approved_by: Iterable[str] = (),
    plan_digest: str | None = None,
    policy_overrides: Iterable[str] = (),
    calls: Iterable[Call | Mapping[str, Any]] = (),
    time: str | None = None,
) -> Draft:
    """The draft of one apply's line: who (`actor`, `via`), what (`commit` of the records,
    `plan_digest`, `calls`), on whose approval (`pull_request`, `approved_by`,
    `policy_overrides`) and how it ended (`result`). `time` defaults to now. Every text is
    masked (formats.redact) first. AuditError names the field when a value does not fit."""
    fields: dict[str, Any] = {
        "time": time or utc_now(),
        "environment": environment,
        "actor": actor,
        "via": via,
        "commit": commit,
        "pull_request": pull_request,
        "approved_by": list(approved_by),
        "plan_digest": plan_digest,
        "policy_overrides": list(policy_overrides),
        "result": result,
        "calls": [
            c.model_dump() if isinstance(c, Call) else {"redox_log_id": None, **c} for c in calls
        ],
    }
    try:
        return Draft.model_validate(masked(fields))
    except ValidationError as exc:
        raise AuditError(f"the audit entry is not valid: {_first(exc)}") from None


def seal(draft: Draft, *, seq: int, prev: str) -> AuditEntry:
    """The entry of `draft` at position `seq`, after the line whose hash is `prev`."""
    body = line_document({**draft.model_dump(mode="json"), "seq": seq, "prev": prev})
    body.pop("hash", None)
    return AuditEntry.model_validate({**body, "hash": line_hash(body)})


def line_hash(document: Mapping[str, Any]) -> str:
    """The hash of a line: sha256 of its canonical JSON without `hash`."""
    if "hash" in document:
        document = {k: v for k, v in document.items() if k != "hash"}
    return "sha256:" + digest(document)


def line_document(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` as a line's object: the known keys in the order they are written."""
    return {name: values[name] for name in FIELDS if name in values}


def line_text(entry: AuditEntry) -> str:
    """The line of `entry`, with its final newline: its canonical JSON (so that its hash is
    that of the line without its `hash` member: see audit/quick.py)."""
    return canonical_json(entry.document()) + "\n"


def masked(value: Any) -> Any:
    """`value` with every registered secret in its texts replaced by ***."""
    if isinstance(value, str):
        return redact.redact(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


DEPTH = 3  # an entry, its calls, a call: nothing of a line nests deeper


def read_line(raw: bytes) -> tuple[dict[str, Any], AuditEntry]:
    """The object and the entry of one line's bytes (without its end of line), checked in
    full: strict bounded JSON, the fields of SPEC 9, and a hash that matches the content.
    JsonProblem says what is wrong, and where inside the line."""
    if not raw.strip():
        raise jsonfile.JsonProblem("is empty")
    document = jsonfile.loads(raw, depth=DEPTH)
    if not isinstance(document, dict):
        raise jsonfile.JsonProblem("is not a JSON object")
    try:
        entry = AuditEntry.model_validate(document)
    except ValidationError as exc:
        raise jsonfile.first_error(exc) from None
    if line_hash(document) != entry.hash:
        raise jsonfile.JsonProblem(
            "does not match its hash: the line was changed after it was written"
        )
    return document, entry


def _first(exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"

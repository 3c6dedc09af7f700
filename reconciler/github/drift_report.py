"""A drift report read back: what `reconciler drift --format json` printed for one environment,
the input of `github drift-verdict --report` and `github drift-issue`. Strict about what it
uses, tolerant of keys a later version adds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import ReconcilerError, cut
from reconciler.formats import files
from reconciler.plan import FieldChange
from reconciler.views.drift import Drift, Finding, Part

REPORT_LIMIT = 256 * 1024 * 1024  # bytes: far beyond any report of 100,000 drifted records


class _Loose(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Field(_Loose):
    path: str
    ledger: Any = None
    directory: Any = None


class _Drifted(_Loose):
    key: str
    kind: str
    identity: str
    finding: Literal["missing", "deactivated", "reactivated", "different"]
    source: str | None = None
    name: str = ""
    applied_at: str | None = None
    fields: list[_Field] = Field(default_factory=list)


class _Report(_Loose):
    environment: str
    checked: int = Field(ge=0)
    ledgered: int = Field(ge=0)
    part: int = Field(1, ge=1)
    parts: int = Field(1, ge=1)
    drift: list[_Drifted]


@dataclass(frozen=True)
class DriftReport:
    """One environment's drift check: the records that differ, of `checked` queried (part
    `part` of `parts`, 1-based), of the `ledgered`."""

    environment: str
    drifts: tuple[Drift, ...]
    checked: int
    ledgered: int
    part: Part

    def checks(self, identity: str) -> bool:
        """Whether this run queried the record of `identity` (its part of the rotation)."""
        return self.part.holds(identity)


def parse_report(text: str, *, shown: str) -> DriftReport:
    """The report in `text` (named `shown` in errors)."""
    try:
        raw = _Report.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the document"
        raise ReconcilerError(
            f"{shown} is not a drift report ({where}: {cut(first['msg'])}): give the file that "
            "`reconciler drift --format json --env ENV` wrote"
        ) from None
    if raw.part > raw.parts:
        raise ReconcilerError(f"{shown} is not a drift report: part {raw.part} of {raw.parts}")
    drifts = tuple(
        Drift(
            d.key,
            d.kind,
            d.identity,
            Finding(d.finding),
            d.source,
            tuple(FieldChange(f.path, f.ledger, f.directory) for f in d.fields),
            name=d.name,
            applied_at=d.applied_at or "",
        )
        for d in raw.drift
    )
    return DriftReport(
        raw.environment, drifts, raw.checked, raw.ledgered, Part(raw.part - 1, raw.parts)
    )


def read_report(path: Path, *, environment: str) -> DriftReport:
    """The report at `path`, which must be `environment`'s."""
    try:
        data = files.read_bytes(path, root=path.parent.resolve(), limit=REPORT_LIMIT)
    except files.Unreadable as exc:
        raise ReconcilerError(f"cannot read the drift report {path}: {exc}") from None
    report = parse_report(data.decode("utf-8", errors="replace"), shown=str(path))
    if report.environment != environment:
        raise ReconcilerError(
            f"{path} is the drift report of {report.environment}, not of {environment}: give "
            f"the report of `reconciler drift --format json --env {environment}`"
        )
    return report

"""The directory report (SPEC 6 `report`) as data: the promotion status, the hierarchy and each
record's recent history, built by the same views as `status`, `graph` and `history`, with each
environment's last audit entries. render/html.py draws it. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.git.commits import Commit
from reconciler.model import Key
from reconciler.views.graph import Graph
from reconciler.views.history import History
from reconciler.views.status import UNVERIFIED, Row, Status


@dataclass(frozen=True)
class AuditTrail:
    """The newest entries of one environment's audit trail (SPEC 9), as its lines hold them."""

    environment: str
    path: str  # relative to the repository
    exists: bool
    entries: tuple[Mapping[str, Any], ...] = ()  # newest first
    total: int = 0  # entries in the file
    problems: tuple[str, ...] = ()  # lines that could not be read


@dataclass(frozen=True)
class Report:
    """Everything the report page shows."""

    repository: str  # the repository's folder name
    generated_at: str  # ISO 8601, UTC
    commit: Commit | None  # the commit the repository is at, None outside git
    status: Status
    graph: Graph
    histories: Mapping[Key, History]
    history_limit: int  # events shown per record
    history_notes: tuple[str, ...]
    audits: tuple[AuditTrail, ...]

    @property
    def unverified(self) -> list[Row]:
        """The records that are unverified in at least one environment."""
        return [row for row in self.status.rows if UNVERIFIED in row.status.values()]

"""The sandbox's store: the directory's organizations and providers in memory, how Redox
changes and queries them (the rules of what it refuses are rules.py's, the faults it can be
told to mishandle writes with are faults.py's), and the append-only journal that makes every
change durable."""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.errors import ReconcilerError
from reconciler.formats import files, jsonfile, redact
from reconciler.kinds.organization import OrganizationKind
from reconciler.redox.api import MANAGING_ORG, already_exists, not_valid
from reconciler.sandbox.faults import Unseen, WriteFaults, altered
from reconciler.sandbox.preload import Preload
from reconciler.sandbox.rules import (
    PROVIDER_RULES,
    PROVIDER_WRITE_RULES,
    Refusal,
    checked,
    checked_organization,
    organization_oid,
    provider_identity,
)

logger = logging.getLogger(__name__)

JOURNAL_NAME = "directory.jsonl"
REQUEST_LOG_NAME = "requests.jsonl"

# Journal kinds. Only a "*.create" counts as a creation (what Organization.New/Provider.New did).
ORG_CREATE = "organization.create"
ORG_UPDATE = "organization.update"
ORG_PUT = "organization.put"
PROVIDER_CREATE = "provider.create"
PROVIDER_UPDATE = "provider.update"
PROVIDER_PUT = "provider.put"
PROVIDER_KINDS = frozenset({PROVIDER_CREATE, PROVIDER_UPDATE, PROVIDER_PUT})
ORG_KINDS = frozenset({ORG_CREATE, ORG_UPDATE, ORG_PUT})
# Stored as if another client had written them: no request of the API made these.
PUTS = frozenset({ORG_PUT, PROVIDER_PUT})
MANAGING_ORG_FIELD = "ManagingOrg"

HIDDEN_FROM_QUERIES = OrganizationKind.hidden_fields


class DirectoryChange(BaseModel):
    """One line of the journal (directory.jsonl): a change the directory made durable."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: str = Field(pattern=r"^(organization|provider)\.(create|update|put)$")
    identity: str = Field(min_length=1)
    record: dict[str, Any]


def journal_line(raw: bytes, *, journal: Path, number: int) -> DirectoryChange:
    """One journal line, checked in full; ReconcilerError naming the file, the line and the
    fix otherwise (only the sandbox writes the journal)."""
    try:
        return DirectoryChange.model_validate(jsonfile.loads(raw))
    except jsonfile.JsonProblem as exc:
        problem = exc
    except ValidationError as exc:
        problem = jsonfile.first_error(exc)
    where = f" at {problem.where}" if problem.where else ""
    raise ReconcilerError(
        f"the sandbox journal {journal}, line {number}, is damaged{where}: {problem.message}. "
        f"Only the sandbox writes it: remove the folder {journal.parent} to start an empty "
        "sandbox"
    )


@dataclass
class Handled:
    """What an accepted event yields: reply fields beside Meta, and what the Meta says."""

    fields: dict[str, Any] = field(default_factory=dict)
    detail: str | None = None
    event_type: str | None = None


class Store:
    """Organizations by OID and providers by identity; every change journalled before it is told."""

    def __init__(
        self, data_dir: Path | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.organizations: dict[str, dict[str, Any]] = {}
        self.providers: dict[str, dict[str, Any]] = {}
        self.creations: dict[str, int] = {}
        # The ManagingOrg a query shows of an organization stored with one of its own (a record
        # put there as another organization's); every other one is Redox's.
        self.managing: dict[str, str] = {}
        self.faults = WriteFaults()
        self._unseen = Unseen(clock)
        self._journal = data_dir / JOURNAL_NAME if data_dir is not None else None
        self._request_log = data_dir / REQUEST_LOG_NAME if data_dir is not None else None
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)
            self._replay()

    def _replay(self) -> None:
        assert self._journal is not None
        if not self._journal.exists():
            return
        try:
            root = self._journal.parent.resolve()
            data = files.read_bytes(self._journal, root=root, limit=files.MAX_DOCUMENT_BYTES)
        except files.Unreadable as exc:
            raise ReconcilerError(f"the sandbox journal {self._journal} {exc}") from None
        # Everything after the last newline is a write torn by a crash: it was never
        # acknowledged, so dropping it is correct, and it must go before anything is appended.
        end = data.rfind(b"\n") + 1
        if end < len(data):
            logger.warning("sandbox journal %s: dropping a torn last line", self._journal)
            with self._journal.open("r+b") as handle:
                handle.truncate(end)
                handle.flush()
                os.fsync(handle.fileno())
        for number, line in enumerate(data[:end].splitlines(), start=1):
            if line.strip():
                entry = journal_line(line, journal=self._journal, number=number)
                self._apply(entry.kind, entry.identity, entry.record)

    def _apply(self, kind: str, identity: str, record: dict[str, Any]) -> None:
        if kind in ORG_KINDS:
            manager = record.get(MANAGING_ORG_FIELD)
            if manager is not None:  # only a record put there carries one: kept apart
                record = {k: v for k, v in record.items() if k != MANAGING_ORG_FIELD}
                self.managing[identity] = str(manager)
            self.organizations[identity] = record
        elif kind in PROVIDER_KINDS:
            self.providers[identity] = record
        else:
            raise KeyError(kind)
        if kind in (ORG_CREATE, PROVIDER_CREATE):
            self.creations[identity] = self.creations.get(identity, 0) + 1

    def commit(self, kind: str, identity: str, record: dict[str, Any]) -> None:
        """Make one change durable (journal, fsync), then visible (to queries: at once, or
        after the visibility delay). A write the faults say is never stored is dropped here."""
        if kind not in PUTS:
            if identity in self.faults.unstored:
                logger.debug("sandbox: %s %s answered but not stored (a fault)", kind, identity)
                return
            if identity in self.faults.altered:
                record = altered(record)
            if self.faults.visibility_delay > 0:
                self._unseen.hide(
                    identity, self._section(kind).get(identity), self.faults.visibility_delay
                )
        else:  # another client's change: visible at once
            self._unseen.show(identity)
        record = copy.deepcopy(record)
        if self._journal is not None:
            line = redact.redact(
                json.dumps({"kind": kind, "identity": identity, "record": record}, sort_keys=True)
            )
            # Opened per write: O(1) whatever the directory size, and no handle outlives a
            # Sandbox that is dropped without a lifespan shutdown.
            with self._journal.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        self._apply(kind, identity, record)

    def _section(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.organizations if kind in ORG_KINDS else self.providers

    def preload(self, records: Preload) -> int:
        """Store the preloaded records that the directory does not hold yet, as if another
        client had created them; how many were stored."""
        stored = 0
        for record in records.organizations:
            oid = organization_oid(record)
            if oid is not None and oid not in self.organizations:
                self.commit(ORG_PUT, oid, record)
                stored += 1
        for record in records.providers:
            identity = provider_identity(record)
            if identity is not None and identity not in self.providers:
                self.commit(PROVIDER_PUT, identity, record)
                stored += 1
        return stored

    def log_request(self, entry: dict[str, Any]) -> None:
        """Append one entry to requests.jsonl, flushed for readers in other processes."""
        if self._request_log is None:
            return
        with self._request_log.open("a", encoding="utf-8") as handle:
            handle.write(redact.redact(json.dumps(entry, sort_keys=True, default=str)) + "\n")
            handle.flush()

    def read_requests(self) -> list[dict[str, Any]]:
        """Every entry of requests.jsonl, oldest first (a torn last line is left out)."""
        if self._request_log is None or not self._request_log.exists():
            return []
        entries = []
        for line in self._request_log.read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return entries

    # -- events -----------------------------------------------------------------------------

    def organization_event(self, event_type: str, body: dict[str, Any]) -> Handled:
        """Apply one Organization event, as Redox and the Carequality directory would."""
        if event_type == "Delete" or body.get("Action") == "Delete":
            raise Refusal(
                403, "Deletion is not supported: deactivate the record (Active: false) instead."
            )
        if event_type not in ("New", "Update", "Query"):
            raise Refusal(403, f"Event type Organization.{event_type} is not supported.")
        if not isinstance(body.get("Directory"), str) or not body["Directory"]:
            raise Refusal(400, "Directory is required.")
        if event_type == "Query":
            return self._organization_query(body)
        records = body.get("Organizations")
        if not isinstance(records, list) or not records:
            raise Refusal(400, "Organizations must be a non-empty array.")
        oids = [checked_organization(record) for record in records]
        # Every record is checked before any is stored: a request lands whole or not at all.
        if event_type == "New":
            if body.get("Action", "Create") != "Create":
                raise Refusal(400, "Action must be Create for Organization.New.")
            for oid in oids:
                if oid in self.organizations:
                    raise Refusal(403, already_exists(oid))
            for oid, record in zip(oids, records, strict=True):
                self.commit(ORG_CREATE, oid, record)
            return Handled(detail="New organization was added successfully.")
        if body.get("Action") != "Update":
            raise Refusal(400, "Action must be Update for Organization.Update.")
        for oid in oids:
            if oid not in self.organizations:
                raise Refusal(403, not_valid(oid))
        for oid, record in zip(oids, records, strict=True):
            self.commit(ORG_UPDATE, oid, record)
        detail = f"Organization with id:{oids[0]} has been updated successfully."
        return Handled(detail=detail)

    def _organization_query(self, body: dict[str, Any]) -> Handled:
        try:
            index = int(body.get("Index") or 0)
            limit = int(body.get("Limit") or 20)
        except (TypeError, ValueError):
            raise Refusal(400, "Index and Limit must be whole numbers.") from None
        if index < 0 or limit < 1:
            raise Refusal(400, "Index must be 0 or more and Limit 1 or more.")
        matches = self.query_organizations(body)
        page = [
            {k: copy.deepcopy(v) for k, v in record.items() if k not in HIDDEN_FROM_QUERIES}
            | {MANAGING_ORG_FIELD: self.managing.get(oid, MANAGING_ORG)}
            for oid, record in matches[index : index + limit]
        ]
        fields = {
            "Directory": body["Directory"],
            "Organizations": page,
            "Paging": {"Count": len(matches), "Index": index},
        }
        return Handled(fields=fields, event_type="QueryResponse")

    def provider_event(self, event_type: str, body: dict[str, Any]) -> Handled:
        """Apply one Provider event (New, Update, Deactivate, Activate, ProviderQuery)."""
        if event_type == "ProviderQuery":
            query = body.get("Provider")
            if not isinstance(query, dict):
                # Accept the Providers[] form as well as the schema's single Provider object.
                listed = body.get("Providers")
                query = listed[0] if isinstance(listed, list) and listed else {}
            identifiers = [i for i in query.get("Identifiers") or [] if isinstance(i, dict)]
            found = copy.deepcopy(self.query_providers(identifiers))
            return Handled(fields={"Providers": found}, event_type="ProviderQueryResponse")
        if event_type not in ("New", "Update", "Deactivate", "Activate"):
            raise Refusal(403, f"Event type Provider.{event_type} is not supported.")
        records = body.get("Providers")
        if not isinstance(records, list) or not records:
            raise Refusal(400, "Providers must be a non-empty array.")
        identities = []
        writes = event_type in ("New", "Update")
        for record in records:
            checked(
                record, PROVIDER_RULES + (PROVIDER_WRITE_RULES if writes else ()), "Providers[]"
            )
            identity = provider_identity(record)
            assert identity is not None  # a rule above
            identities.append(identity)
        for identity in identities:
            if event_type == "New" and identity in self.providers:
                raise Refusal(403, already_exists(identity))
            if event_type != "New" and identity not in self.providers:
                raise Refusal(403, not_valid(identity))
        for identity, record in zip(identities, records, strict=True):
            if event_type == "New":
                self.commit(PROVIDER_CREATE, identity, record)
            elif event_type == "Update":
                self.commit(PROVIDER_UPDATE, identity, record)
            else:
                # Activate/Deactivate flip IsActive only; the rest of the record stays.
                changed = self.providers[identity] | {"IsActive": event_type == "Activate"}
                self.commit(PROVIDER_UPDATE, identity, changed)
        first = identities[0]
        details = {
            "New": "New provider was added successfully.",
            "Update": f"Provider with id:{first} has been updated successfully.",
            "Deactivate": f"Provider with id:{first} has been deactivated successfully.",
            "Activate": f"Provider with id:{first} has been activated successfully.",
        }
        return Handled(detail=details[event_type])

    # -- queries ----------------------------------------------------------------------------

    def query_organizations(self, query: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(OID, record) of the organizations a query shows that match an Organization.Query
        body, sorted by OID."""
        identifier = query.get("Identifier") or {}
        wanted_id = identifier.get("ID") if isinstance(identifier, dict) else None
        wanted_type = identifier.get("IDType") if isinstance(identifier, dict) else None
        if wanted_id and wanted_type in (None, "OID"):
            # The common case (refresh, drift, import) is a lookup, not a scan of 10k records.
            record = self.organizations.get(str(wanted_id))
            candidates = [(str(wanted_id), record)] if record is not None else []
        else:
            candidates = sorted(self.organizations.items())
        name_search = query.get("NameSearch") or {}
        needle = name_search.get("Value") if isinstance(name_search, dict) else None
        search_type = (name_search.get("SearchType") or "Contains") if needle else None
        state = query.get("State")
        active = _as_bool(query.get("Active"))
        matches = []
        for oid, stored in candidates:
            record = self._unseen.shown(oid, stored)
            if record is None:
                continue
            if (
                wanted_id
                and wanted_type not in (None, "OID")
                and not _has_identifier(record, str(wanted_id), str(wanted_type))
            ):
                continue
            if needle and not _name_matches(str(record.get("Name", "")), str(needle), search_type):
                continue
            address = record.get("Address") or {}
            if state and str(address.get("State", "")).upper() != str(state).upper():
                continue
            if active is not None and bool(record.get("Active")) is not active:
                continue
            matches.append((oid, record))
        return matches

    def query_providers(self, identifiers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The providers a query shows that carry any of `identifiers` (all providers when
        none), by identity."""
        found = []
        for identity, stored in sorted(self.providers.items()):
            record = self._unseen.shown(identity, stored)
            if record is None:
                continue
            if not identifiers or any(
                _has_identifier(record, str(i.get("ID")), i.get("IDType")) for i in identifiers
            ):
                found.append(record)
        return found


def _has_identifier(record: dict[str, Any], wanted_id: str, wanted_type: Any) -> bool:
    for identifier in record.get("Identifiers") or []:
        if not isinstance(identifier, dict) or identifier.get("ID") != wanted_id:
            continue
        if wanted_type is None or identifier.get("IDType") == wanted_type:
            return True
    return False


def _name_matches(name: str, needle: str, search_type: str | None) -> bool:
    name, needle = name.casefold(), needle.casefold()
    if search_type == "Exact":
        return name == needle
    if search_type in ("StartsWith", "BeginsWith"):
        return name.startswith(needle)
    return needle in name


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None

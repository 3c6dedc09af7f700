"""The sandbox's store: the directory's organizations and providers in memory, Redox's rules for
changing and querying them, and the append-only journal that makes every change durable."""

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
from reconciler.formats import files, jsonfile
from reconciler.kinds.organization import ORG_TYPES, OrganizationKind
from reconciler.kinds.provider import ProviderKind
from reconciler.redox.api import MANAGING_ORG, PARSE_FAILED, already_exists, not_valid

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

# The identity rules are the kinds' own: the store and the reconciler never disagree on them.
organization_oid = OrganizationKind().wire_identity
provider_identity = ProviderKind().wire_identity
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


class Refusal(Exception):
    """A request Redox would refuse: its HTTP status and its Meta.Errors[].Text."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


@dataclass(frozen=True)
class WriteFaults:
    """How the directory mishandles the writes it accepts (faults for tests): each change is
    shown to queries only `visibility_delay` seconds after it is stored; a write about an
    identity in `unstored` is answered as usual but never stored; one about an identity in
    `altered` is stored otherwise than sent (its name in capitals)."""

    visibility_delay: float = 0.0
    unstored: frozenset[str] = frozenset()
    altered: frozenset[str] = frozenset()


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
        self._clock = clock
        # A change not yet visible: (section, identity) -> when it shows, and the record that
        # queries show until then (None: none).
        self._unseen: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}
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
                record = _altered(kind, record)
            if self.faults.visibility_delay > 0:
                self._hide(kind, identity)
        else:  # another client's change: visible at once
            section = "organization" if kind in ORG_KINDS else "provider"
            self._unseen.pop((section, identity), None)
        record = copy.deepcopy(record)
        if self._journal is not None:
            line = json.dumps(
                {"kind": kind, "identity": identity, "record": record}, sort_keys=True
            )
            # Opened per write: O(1) whatever the directory size, and no handle outlives a
            # Sandbox that is dropped without a lifespan shutdown.
            with self._journal.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
                handle.flush()
                os.fsync(handle.fileno())
        self._apply(kind, identity, record)

    def _hide(self, kind: str, identity: str) -> None:
        """Keep showing queries what they show now of `identity` for visibility_delay seconds."""
        section = "organization" if kind in ORG_KINDS else "provider"
        records = self.organizations if section == "organization" else self.providers
        now = self._clock()
        shown: dict[str, Any] | None = records.get(identity)
        earlier = self._unseen.get((section, identity))
        if earlier is not None and now < earlier[0]:
            shown = earlier[1]  # an earlier change is not visible yet either
        self._unseen[(section, identity)] = (now + self.faults.visibility_delay, shown)

    def _shown(self, section: str, identity: str, record: dict[str, Any]) -> dict[str, Any] | None:
        """What a query shows of a stored record: an earlier version (or nothing) while its last
        change is not yet visible."""
        unseen = self._unseen.get((section, identity))
        if unseen is None:
            return record
        if self._clock() < unseen[0]:
            return unseen[1]
        del self._unseen[(section, identity)]
        return record

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
            handle.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
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
        oids = [_checked_organization(record) for record in records]
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
            _checked(
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
            record = self._shown("organization", oid, stored)
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
            record = self._shown("provider", identity, stored)
            if record is None:
                continue
            if not identifiers or any(
                _has_identifier(record, str(i.get("ID")), i.get("IDType")) for i in identifiers
            ):
                found.append(record)
        return found


@dataclass(frozen=True)
class Preload:
    """Records the directory holds before the first apply, as if created elsewhere (wire form;
    an organization may carry the `ManagingOrg` a query shows of it)."""

    organizations: tuple[dict[str, Any], ...] = ()
    providers: tuple[dict[str, Any], ...] = ()


class PreloadFile(BaseModel):
    """A preload file (`sandbox serve --preload FILE`): {"organizations": [...], "providers":
    [...]}, each record in Redox's wire form."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    organizations: list[dict[str, Any]] = Field(default_factory=list)
    providers: list[dict[str, Any]] = Field(default_factory=list)


def read_preload(path: Path) -> Preload:
    """The records of a preload file; ReconcilerError naming the file, the record and the fix."""
    try:
        raw = files.read_bytes(path, root=path.parent.resolve(), limit=files.MAX_DOCUMENT_BYTES)
        parsed = PreloadFile.model_validate(jsonfile.loads(raw))
    except (OSError, files.Unreadable) as exc:
        raise ReconcilerError(f"cannot read the preload file {path}: {exc}") from None
    except jsonfile.JsonProblem as exc:
        raise ReconcilerError(f"the preload file {path} is not valid JSON: {exc}") from None
    except ValidationError as exc:
        problem = jsonfile.first_error(exc)
        where = f" at {problem.where}" if problem.where else ""
        raise ReconcilerError(
            f"the preload file {path} is invalid{where}: {problem.message}. Write "
            '{"organizations": [...], "providers": [...]}, each record in Redox\'s wire form'
        ) from None
    for section, records, identity in (
        ("organizations", parsed.organizations, organization_oid),
        ("providers", parsed.providers, provider_identity),
    ):
        for number, record in enumerate(records):
            if identity(record) is None:
                what = "an Identifiers[] entry with IDType OID" if section[0] == "o" else "an ID"
                raise ReconcilerError(
                    f"the preload file {path}, {section}[{number}], has no identity: give it {what}"
                )
    return Preload(tuple(parsed.organizations), tuple(parsed.providers))


def _altered(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """`record` as a directory that stores it otherwise than sent would: its name in capitals
    (an organization's Name, a provider's Demographics.LastName)."""
    if kind in ORG_KINDS and isinstance(record.get("Name"), str):
        return {**record, "Name": record["Name"].upper()}
    demographics = record.get("Demographics")
    if isinstance(demographics, dict) and isinstance(demographics.get("LastName"), str):
        shouted = {**demographics, "LastName": demographics["LastName"].upper()}
        return {**record, "Demographics": shouted}
    return record


@dataclass(frozen=True)
class ContentRule:
    """What Redox is documented to refuse in a record of a request: the rule, and the status
    and Meta.Errors text it answers a record that breaks it with."""

    name: str
    holds: Callable[[dict[str, Any]], bool]
    status: int
    text: str


def _type_value(record: dict[str, Any]) -> Any:
    kind = record.get("Type")
    return kind.get("Value") if isinstance(kind, dict) else None


def _implementer_contact(record: dict[str, Any]) -> bool:
    contacts = record.get("Contacts")
    return _type_value(record) != "Implementer" or (isinstance(contacts, list) and bool(contacts))


def _endpoint_names(record: dict[str, Any]) -> bool:
    endpoints = record.get("Endpoints") or []
    return isinstance(endpoints, list) and all(
        isinstance(e, dict) and e.get("Name") for e in endpoints
    )


# Organization New and Update (reference/redox-api-notes.md): Name and Active are required; the
# Carequality directory refuses a record without an identifier (the OID), a valid type, a
# contact for an Implementer or endpoint display names, all with one text (its FHIR conversion
# fails).
ORGANIZATION_RULES = (
    ContentRule(
        "a name",
        lambda r: isinstance(r.get("Name"), str) and bool(r["Name"]),
        400,
        "Organizations[].Name is required.",
    ),
    ContentRule(
        "the active flag",
        lambda r: isinstance(r.get("Active"), bool),
        400,
        "Organizations[].Active is required.",
    ),
    ContentRule("an OID identifier", lambda r: organization_oid(r) is not None, 403, PARSE_FAILED),
    ContentRule("a valid type", lambda r: _type_value(r) in ORG_TYPES, 403, PARSE_FAILED),
    ContentRule("a contact for an Implementer", _implementer_contact, 403, PARSE_FAILED),
    ContentRule("a display name on every endpoint", _endpoint_names, 403, PARSE_FAILED),
)
# Provider events: an identifier with an ID always; IsActive on New and Update.
PROVIDER_RULES = (
    ContentRule(
        "an identifier",
        lambda r: provider_identity(r) is not None,
        400,
        "Providers[].Identifiers[] with an ID is required.",
    ),
)
PROVIDER_WRITE_RULES = (
    ContentRule(
        "the active flag",
        lambda r: isinstance(r.get("IsActive"), bool),
        400,
        "Providers[].IsActive is required on New and Update.",
    ),
)


def broken_rules(record: Any, rules: tuple[ContentRule, ...]) -> list[ContentRule]:
    """The rules a request's record breaks (every rule, when it is not an object)."""
    if not isinstance(record, dict):
        return list(rules)
    return [rule for rule in rules if not rule.holds(record)]


def _checked(record: Any, rules: tuple[ContentRule, ...], what: str) -> None:
    """Refuse `record` the way Redox refuses the first rule it breaks."""
    if not isinstance(record, dict):
        raise Refusal(400, f"{what} items must be objects.")
    broken = broken_rules(record, rules)
    if broken:
        raise Refusal(broken[0].status, broken[0].text)


def _checked_organization(record: Any) -> str:
    """The OID of a New/Update record, refused the way Redox refuses an incomplete one."""
    _checked(record, ORGANIZATION_RULES, "Organizations[]")
    oid = organization_oid(record)
    assert oid is not None  # a rule above
    return oid


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

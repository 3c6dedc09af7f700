"""Provider records (SPEC 1.2): one Redox `Providers[]` item per file, and its Provider events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from reconciler.errors import Problem
from reconciler.kinds.fields import is_oid
from reconciler.kinds.organization import ORGANIZATION
from reconciler.kinds.provider_record import NPI, NPI_DIGITS, OID, Provider, npi_luhn_ok
from reconciler.model import (
    Action,
    Desired,
    Environment,
    Key,
    Kind,
    Loaded,
    Wire,
    from_wire,
    make_key,
)
from reconciler.redox import api as redox_api

if TYPE_CHECKING:
    from reconciler.redox.api import RedoxApi

PROVIDER = "provider"
SETTINGS_FILE = "reconciler.yaml"  # named here, not imported: kinds stay below settings
EVENTS = {
    Action.CREATE: "New",
    Action.UPDATE: "Update",
    Action.DEACTIVATE: "Deactivate",
    Action.REACTIVATE: "Activate",
}

# --- the kind -----------------------------------------------------------------------------


class ProviderKind(Kind):
    """Providers: files in providers/, sent as Provider.New/Update/Deactivate/Activate."""

    name: ClassVar[str] = PROVIDER
    folder: ClassVar[str] = "providers"
    model: ClassVar[type[Wire]] = Provider
    active_field: ClassVar[str] = "IsActive"
    data_model: ClassVar[str] = "Provider"
    destination_setting: ClassVar[str] = "provider_destination"
    built_in_destinations: ClassVar[Mapping[str, str]] = {
        "sandbox": redox_api.SANDBOX_PROVIDER_DESTINATION
    }
    cross_keys: ClassVar[tuple[str, ...]] = ("identifiers", "roles")
    # Identifiers by type and value; the provider's other lists by their own Identifiers.
    list_identities: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "Identifiers": ("IDType", "ID"),
        "Qualifications": ("Identifiers",),
        "Roles": ("Identifiers",),
        "Locations": ("Identifiers",),
    }

    def identity(self, data: dict[str, Any]) -> str | None:
        return _identity(data.get("identifiers"), key="id", type_key="id_type")

    def wire_identity(self, payload: Any) -> str | None:
        if not isinstance(payload, dict):
            return None
        return _identity(payload.get("Identifiers"), key="ID", type_key="IDType")

    def display_name(self, payload: dict[str, Any], identity: str) -> str:
        """The provider's first and last name."""
        demographics = payload.get("Demographics")
        if not isinstance(demographics, dict):
            return identity
        parts = [demographics.get("FirstName"), demographics.get("LastName")]
        return " ".join(p for p in parts if isinstance(p, str)) or identity

    def desired(
        self, record: Wire, data: dict[str, Any], env: Environment, *, file: str
    ) -> Desired:
        provider = record
        assert isinstance(provider, Provider)
        payload = provider.item()
        identity = self.wire_identity(payload)
        assert identity is not None  # identifiers has at least one entry, each with an id
        return Desired.of(
            kind=PROVIDER,
            identity=identity,
            envelope={},
            payload=payload,
            active=provider.active,
            file=file,
            # Organization keys named by OID; the plan ignores those not managed in orgs/.
            depends_on=self.parent_keys(payload),
        )

    def check_all(self, loaded: list[Loaded], env: Environment, known: set[Key]) -> list[Problem]:
        problems: list[Problem] = []
        if loaded and env.destination(self.name) is None:
            problems.append(
                Problem(
                    SETTINGS_FILE,
                    0,
                    f"providers/ has {len(loaded)} record file{'s' if len(loaded) != 1 else ''} "
                    f"but environment {env.name!r} has no provider destination: set "
                    f"environments.{env.name}.{self.destination_setting} in {SETTINGS_FILE} to the "
                    "Redox destination ID that receives Provider events",
                )
            )
        by_identity: dict[str, Loaded] = {}
        for item in loaded:
            identity = self.identity(item.cross_values)
            if identity is None:
                continue
            first = by_identity.setdefault(identity, item)
            if first is not item:
                problems.append(
                    _problem(
                        item,
                        "identifiers",
                        f"provider identity {identity} is already used by {first.file} "
                        f"(line {first.line('identifiers')}): the NPI (or, without one, the first "
                        "identifier) must be unique across files",
                    )
                )
            problems.extend(_npi_warnings(item))
        managed = {key.partition(":")[2] for key in known if key.startswith(ORGANIZATION + ":")}
        for item in loaded:
            problems.extend(_role_organization_problems(item, managed, env))
        return problems

    def parent_keys(self, payload: dict[str, Any]) -> tuple[Key, ...]:
        keys = {make_key(ORGANIZATION, oid) for oid in _role_oids(payload, wire=True)}
        return tuple(sorted(keys))

    def request(
        self,
        action: Action,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        *,
        destination: str,
    ) -> dict[str, Any]:
        """New and Update carry IsActive; Deactivate and Activate carry the record without it."""
        event = EVENTS[action]
        item = payload
        if event in {"Deactivate", "Activate"}:
            item = {k: v for k, v in payload.items() if k != "IsActive"}
        return {
            "Meta": redox_api.meta(self.data_model, event, destination),
            **envelope,
            "Providers": [item],
        }

    def requests(
        self,
        action: Action,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        *,
        before: dict[str, Any] | None,
        destination: str,
    ) -> list[dict[str, Any]]:
        """Deactivate and Activate only flip the flag at Redox: other changes made in the same
        plan go in an Update, sent while the provider is active."""

        def body(event: Action, item: dict[str, Any]) -> dict[str, Any]:
            return self.request(event, envelope, item, destination=destination)

        flips = {Action.DEACTIVATE, Action.REACTIVATE}
        if action not in flips or before is None:
            return [body(action, payload)]
        unchanged = self.with_active(before, True) == self.with_active(payload, True)
        if unchanged:
            return [body(action, payload)]
        if action == Action.DEACTIVATE:
            return [
                body(Action.UPDATE, self.with_active(payload, True)),
                body(Action.DEACTIVATE, payload),
            ]
        return [body(Action.REACTIVATE, payload), body(Action.UPDATE, payload)]

    async def look_up(
        self,
        api: RedoxApi,
        identity: str,
        *,
        envelope: dict[str, Any],
        like: dict[str, Any] | None,
        env: Environment,
    ) -> dict[str, Any] | None:
        query = redox_api.provider_query(
            destination=env.destination(self.name) or "",
            identifier=_query_identifier(identity, like),
        )
        reply = await api.send(query)
        found = [r for r in reply.get("Providers") or [] if isinstance(r, dict)]
        return next((r for r in found if identity in _ids(r)), None)

    def to_yaml(self, payload: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {"identifiers": from_wire(payload.get("Identifiers") or [])}
        doc["active"] = bool(payload.get("IsActive", True))
        doc.update(
            {k: v for k, v in from_wire(payload).items() if k not in {"identifiers", "is_active"}}
        )
        return doc


# --- helpers over raw file data and payloads ----------------------------------------------


def _query_identifier(identity: str, like: dict[str, Any] | None) -> dict[str, str]:
    """The identifier to query a provider by: the payload's identifier of that identity, with
    its type (the NPI, usually); the bare ID when there is no payload to read it from."""
    for entry in (like or {}).get("Identifiers") or []:
        if isinstance(entry, dict) and entry.get("ID") == identity:
            if isinstance(entry.get("IDType"), str):
                return {"ID": identity, "IDType": entry["IDType"]}
            break
    return {"ID": identity}


def _ids(record: dict[str, Any]) -> set[str]:
    return {str(i.get("ID")) for i in record.get("Identifiers") or [] if isinstance(i, dict)}


def _identity(identifiers: Any, *, key: str, type_key: str) -> str | None:
    """The NPI, else the first identifier's id; None when the data has neither as text."""
    if not isinstance(identifiers, list):
        return None
    entries = [i for i in identifiers if isinstance(i, dict)]
    for entry in entries:
        if entry.get(type_key) == NPI and isinstance(entry.get(key), str):
            return str(entry[key])
    if entries and isinstance(entries[0].get(key), str) and entries[0][key]:
        return str(entries[0][key])
    return None


def _role_oids(data: dict[str, Any], *, wire: bool) -> list[str]:
    """The OID-typed identifiers of every role's organization: in a payload (Redox names) when
    `wire`, else in a file's raw data (snake_case)."""
    names = ("Roles", "Organization", "Identifiers", "IDType", "ID")
    roles_key, org_key, ids_key, type_key, id_key = (
        names if wire else ("roles", "organization", "identifiers", "id_type", "id")
    )
    found: list[str] = []
    roles = data.get(roles_key)
    for role in roles if isinstance(roles, list) else []:
        org = role.get(org_key) if isinstance(role, dict) else None
        identifiers = org.get(ids_key) if isinstance(org, dict) else None
        for entry in identifiers if isinstance(identifiers, list) else []:
            if isinstance(entry, dict) and entry.get(type_key) == OID:
                value = entry.get(id_key)
                if isinstance(value, str):
                    found.append(value)
    return found


def _npi_warnings(item: Loaded) -> list[Problem]:
    identifiers = item.cross_values.get("identifiers")
    warnings: list[Problem] = []
    for entry in identifiers if isinstance(identifiers, list) else []:
        if not isinstance(entry, dict) or entry.get("id_type") != NPI:
            continue
        npi = entry.get("id")
        if isinstance(npi, str) and NPI_DIGITS.fullmatch(npi) and not npi_luhn_ok(npi):
            warnings.append(
                _problem(
                    item,
                    "identifiers",
                    f"NPI {npi} fails the Luhn check digit (over 80840 + its first 9 digits): "
                    "fine for a sample, but a real NPI always passes",
                    severity="warning",
                )
            )
    return warnings


def _role_organization_problems(item: Loaded, managed: set[str], env: Environment) -> list[Problem]:
    """An OID under a record managed in orgs/ must itself be one (a typo, most likely)."""
    problems: list[Problem] = []
    for oid in _role_oids(item.cross_values, wire=False):
        if oid in managed or oid in env.external_parents:
            continue
        if not is_oid(oid):
            continue  # the model reports the syntax, on its own line
        owner = next(
            (m for m in sorted(managed, key=len, reverse=True) if oid.startswith(m + ".")), None
        )
        if owner is not None:
            problems.append(
                _problem(
                    item,
                    "roles",
                    f"role organization OID {oid} is under {owner}, which orgs/ manages, but no "
                    "file in orgs/ has it: fix the OID, add the organization's file, or list the "
                    f"OID under external_parents in {SETTINGS_FILE} if it is managed elsewhere",
                )
            )
    return problems


def _problem(item: Loaded, key: str, message: str, *, severity: str = "error") -> Problem:
    subject = ProviderKind().identity(item.cross_values) or ""
    return Problem(item.file, item.line(key), message, subject=subject, severity=severity)

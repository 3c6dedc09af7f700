"""Provider records (SPEC 1.2): one Redox `Providers[]` item per file, and its Provider events."""

from __future__ import annotations

from typing import Any, ClassVar

from reconciler.errors import Problem
from reconciler.kinds.organization import ORGANIZATION
from reconciler.kinds.provider_record import NPI, NPI_DIGITS, OID, Provider, npi_luhn_ok
from reconciler.model import (
    Desired,
    Environment,
    Key,
    Kind,
    Loaded,
    Wire,
    check_oid,
    make_key,
    meta,
)

PROVIDER = "provider"
SETTINGS_FILE = "reconciler.yaml"  # named here, not imported: kinds stay below settings
EVENTS = {
    "create": "New",
    "update": "Update",
    "deactivate": "Deactivate",
    "reactivate": "Activate",
}

# --- the kind -----------------------------------------------------------------------------


class ProviderKind(Kind):
    """Providers: files in providers/, sent as Provider.New/Update/Deactivate/Activate."""

    name: ClassVar[str] = PROVIDER
    folder: ClassVar[str] = "providers"
    model: ClassVar[type[Wire]] = Provider
    active_field: ClassVar[str] = "IsActive"
    data_model: ClassVar[str] = "Provider"
    cross_keys: ClassVar[tuple[str, ...]] = ("identifiers", "roles")

    def identity(self, data: dict[str, Any]) -> str | None:
        return _identity(data.get("identifiers"), key="id", type_key="id_type")

    def desired(
        self, record: Wire, data: dict[str, Any], env: Environment, *, file: str
    ) -> Desired:
        provider = record
        assert isinstance(provider, Provider)
        payload = provider.item()
        identity = _identity(payload["Identifiers"], key="ID", type_key="IDType")
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
        if loaded and env.provider_destination is None:
            problems.append(
                Problem(
                    SETTINGS_FILE,
                    0,
                    f"providers/ has {len(loaded)} record file{'s' if len(loaded) != 1 else ''} "
                    f"but environment {env.name!r} has no provider destination: set "
                    f"environments.{env.name}.provider_destination in {SETTINGS_FILE} to the "
                    "Redox destination ID that receives Provider events",
                )
            )
        by_identity: dict[str, Loaded] = {}
        for item in loaded:
            identity = self.identity(item.facts)
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
        action: str,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        *,
        destination: str,
        source_id: str | None,
    ) -> dict[str, Any]:
        """New and Update carry IsActive; Deactivate and Activate carry the record without it."""
        event = EVENTS[action]
        item = payload
        if event in {"Deactivate", "Activate"}:
            item = {k: v for k, v in payload.items() if k != "IsActive"}
        return {
            "Meta": meta(self.data_model, event, destination, source_id),
            **envelope,
            "Providers": [item],
        }

    def requests(
        self,
        action: str,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        *,
        before: dict[str, Any] | None,
        destination: str,
        source_id: str | None,
    ) -> list[dict[str, Any]]:
        """Deactivate and Activate only flip the flag at Redox: other changes made in the same
        plan go in an Update, sent while the provider is active."""

        def body(event: str, item: dict[str, Any]) -> dict[str, Any]:
            return self.request(event, envelope, item, destination=destination, source_id=source_id)

        if action not in {"deactivate", "reactivate"} or before is None:
            return [body(action, payload)]
        unchanged = self.with_active(before, True) == self.with_active(payload, True)
        if unchanged:
            return [body(action, payload)]
        if action == "deactivate":
            return [body("update", self.with_active(payload, True)), body("deactivate", payload)]
        return [body("reactivate", payload), body("update", payload)]

    def destination(self, env: Environment) -> str | None:
        return env.provider_destination


# --- helpers over raw file data and payloads ----------------------------------------------


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
    identifiers = item.facts.get("identifiers")
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
    for oid in _role_oids(item.facts, wire=False):
        if oid in managed or oid in env.external_parents:
            continue
        try:
            check_oid(oid)
        except ValueError:
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
    subject = ProviderKind().identity(item.facts) or ""
    return Problem(item.file, item.line(key), message, subject=subject, severity=severity)

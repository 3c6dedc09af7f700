"""Provider records (SPEC 1.2): one Redox `Providers[]` item per file, and its Provider events."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from reconciler.errors import Problem
from reconciler.kinds.organization import ORGANIZATION
from reconciler.model import (
    Desired,
    Email,
    Environment,
    Key,
    Kind,
    Loaded,
    Phone,
    Wire,
    check_oid,
    make_key,
    meta,
    us_address_problems,
)

PROVIDER = "provider"
NPI = "NPI"
OID = "OID"
SETTINGS_FILE = "reconciler.yaml"  # named here, not imported: kinds stay below settings
LOCATION_STATUSES = ("Active", "Suspended", "Inactive")
EVENTS = {
    "create": "New",
    "update": "Update",
    "deactivate": "Deactivate",
    "reactivate": "Activate",
}

# --- field rules ------------------------------------------------------------------------------

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_TIME = re.compile(
    r"^T?([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)?$"
)
_NPI = re.compile(r"^\d{10}$")


def check_date(value: str) -> str:
    """ISO 8601: a date (1963-01-06) or a full date and time (2000-02-01T08:30:00Z)."""
    hint = "use YYYY-MM-DD or a full ISO 8601 date and time such as 2000-02-01T08:30:00Z"
    try:
        if _DATE.match(value):
            date.fromisoformat(value)
        elif _DATETIME.match(value):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            raise ValueError(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date: {hint}") from None
    return value


def check_time(value: str) -> str:
    """A time of day: HH:MM or HH:MM:SS, optionally ISO 8601's fraction and offset (09:00Z)."""
    if not _TIME.match(value):
        raise ValueError(
            f'{value!r} is not a time of day: use HH:MM or HH:MM:SS (24-hour, e.g. "17:30"), '
            "optionally with an ISO 8601 offset such as Z or +01:00"
        )
    return value


def _time_not_number(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020: say so, not "expected text".
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'got the number {value!r}: write times in quotes ("17:00"); YAML reads an '
            "unquoted 17:00 as a base-60 number"
        )
    return value


def check_status(value: str) -> str:
    """Active, Suspended or Inactive, in any case (Redox's own example writes "active")."""
    if value.capitalize() not in LOCATION_STATUSES:
        raise ValueError(f"{value!r} is not a location status: use Active, Suspended or Inactive")
    return value


def npi_luhn_ok(npi: str) -> bool:
    """Whether a 10-digit NPI's last digit is the Luhn check digit over 80840 + its first 9."""
    total = 0
    for position, char in enumerate(reversed("80840" + npi)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


IsoDate = Annotated[str, AfterValidator(check_date)]
TimeOfDay = Annotated[str, BeforeValidator(_time_not_number), AfterValidator(check_time)]
LocationStatus = Annotated[str, AfterValidator(check_status)]
Day = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


# --- the Providers[] tree -----------------------------------------------------------------


def _identifier_rules(id_value: str | None, id_type: str | None) -> None:
    if id_value is None:
        return
    if id_type == NPI and not _NPI.match(id_value):
        raise ValueError(f"NPI {id_value!r} must be exactly 10 digits")
    if id_type == OID:
        check_oid(id_value)


class ProviderIdentifier(Wire):
    """One of the provider's own identifiers: `id` is required."""

    id: Annotated[str, Field(min_length=1)]
    id_type: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> ProviderIdentifier:
        _identifier_rules(self.id, self.id_type)
        return self


class Identifier(Wire):
    """An identifier inside the record (qualification, role, organization, location, service)."""

    id: str | None = None
    id_type: str | None = None

    @model_validator(mode="after")
    def _rules(self) -> Identifier:
        _identifier_rules(self.id, self.id_type)
        return self


class Address(Wire):
    street_address: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    county: str | None = None
    country: str | None = None

    @model_validator(mode="after")
    def _usps(self) -> Address:
        problems = us_address_problems(self.state, self.zip, self.country)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class DemographicsAddress(Address):
    use: str | None = None


class DemographicsPhone(Wire):
    home: Phone | None = None
    office: Phone | None = None
    mobile: Phone | None = None


class OfficePhone(Wire):
    office: Phone | None = None


class Demographics(Wire):
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    credentials: list[str] = Field(default_factory=list)
    addresses: list[DemographicsAddress] = Field(default_factory=list)
    email_addresses: list[Email] = Field(default_factory=list)
    phone_number: DemographicsPhone = Field(default_factory=DemographicsPhone)
    sex: str | None = None
    dob: IsoDate | None = None
    languages: list[str] = Field(default_factory=list)


class Qualification(Wire):
    identifiers: list[Identifier] = Field(default_factory=list)
    code: str | None = None
    codeset: str | None = None
    description: str | None = None
    start_date: IsoDate | None = None
    end_date: IsoDate | None = None


class RoleOrganization(Wire):
    identifiers: list[Identifier] = Field(default_factory=list)
    # A boolean as in Redox's example payload, though the 2021 JSON Schema says string (SPEC 1.2).
    is_active: bool | None = None
    type: str | None = None
    name: str | None = None
    address: Address = Field(default_factory=Address)


class Specialty(Wire):
    code: str | None = None
    codeset: str | None = None
    description: str | None = None


class Location(Wire):
    identifiers: list[Identifier] = Field(default_factory=list)
    status: LocationStatus | None = None
    name: str | None = None
    description: str | None = None
    address: Address = Field(default_factory=Address)
    email_addresses: list[Email] = Field(default_factory=list)
    phone_number: OfficePhone = Field(default_factory=OfficePhone)


class Service(Wire):
    identifiers: list[Identifier] = Field(default_factory=list)
    type: str | None = None
    description: str | None = None
    phone_number: OfficePhone = Field(default_factory=OfficePhone)


class Availability(Wire):
    days: list[Day] = Field(default_factory=list)
    available_start_time: TimeOfDay | None = None
    available_end_time: TimeOfDay | None = None


class Role(Wire):
    identifiers: list[Identifier] = Field(default_factory=list)
    organization: RoleOrganization = Field(default_factory=RoleOrganization)
    specialties: list[Specialty] = Field(default_factory=list)
    locations: list[Location] = Field(default_factory=list)
    services: list[Service] = Field(default_factory=list)
    availability: list[Availability] = Field(default_factory=list)


def _at_least_one(identifiers: list[ProviderIdentifier]) -> list[ProviderIdentifier]:
    if not identifiers:
        raise ValueError(
            'a provider needs at least one identifier, e.g. - {id: "1234567893", id_type: NPI}'
        )
    return identifiers


class Provider(Wire):
    """One provider file: a Redox `Providers[]` item in snake_case, plus `active`."""

    identifiers: Annotated[
        list[ProviderIdentifier],
        AfterValidator(_at_least_one),
        Field(json_schema_extra={"minItems": 1}),
    ]
    active: bool = True
    demographics: Demographics = Field(default_factory=Demographics)
    qualifications: list[Qualification] = Field(default_factory=list)
    roles: list[Role] = Field(default_factory=list)

    def item(self) -> dict[str, Any]:
        """The `Providers[]` item: the keys written (nulls included) and IsActive."""
        rest = self.model_dump(mode="json", exclude_unset=True, exclude={"identifiers", "active"})
        return {
            "Identifiers": [i.wire() for i in self.identifiers],
            "IsActive": self.active,
            **rest,
        }


# --- the kind -----------------------------------------------------------------------------


class ProviderKind(Kind):
    """Providers: files in providers/, sent as Provider.New/Update/Deactivate/Activate."""

    name: ClassVar[str] = PROVIDER
    folder: ClassVar[str] = "providers"
    model: ClassVar[type[Wire]] = Provider
    data_model: ClassVar[str] = "Provider"

    def identity(self, data: dict[str, Any]) -> str | None:
        return _identity(data.get("identifiers"), key="id", type_key="id_type")

    def desired(self, loaded: Loaded, env: Environment) -> Desired:
        provider = loaded.record
        assert isinstance(provider, Provider)
        payload = provider.item()
        identity = _identity(payload["Identifiers"], key="ID", type_key="IDType")
        assert identity is not None  # identifiers has at least one entry, each with an id
        return Desired(
            kind=PROVIDER,
            identity=identity,
            envelope={},
            payload=payload,
            active=provider.active,
            file=loaded.file,
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
            identity = self.identity(item.data)
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

    def is_active(self, payload: dict[str, Any]) -> bool:
        return bool(payload.get("IsActive", True))

    def with_active(self, payload: dict[str, Any], active: bool) -> dict[str, Any]:
        return {**payload, "IsActive": active}

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
    identifiers = item.data.get("identifiers")
    warnings: list[Problem] = []
    for entry in identifiers if isinstance(identifiers, list) else []:
        if not isinstance(entry, dict) or entry.get("id_type") != NPI:
            continue
        npi = entry.get("id")
        if isinstance(npi, str) and _NPI.match(npi) and not npi_luhn_ok(npi):
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
    for oid in _role_oids(item.data, wire=False):
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
    subject = ProviderKind().identity(item.data) or ""
    return Problem(item.file, item.line(key), message, subject=subject, severity=severity)

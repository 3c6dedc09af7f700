"""One Redox `Providers[]` item as YAML (SPEC 1.2): the frozen model and its field rules."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from reconciler.fields import Address, Email, Phone, check_oid
from reconciler.model import Wire

NPI = "NPI"
OID = "OID"
LOCATION_STATUSES = ("Active", "Suspended", "Inactive")

# --- field rules ------------------------------------------------------------------------------

# Used with fullmatch: `$` would let a trailing newline through.
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_TIME = re.compile(
    r"T?([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]+)?)?(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?"
)
NPI_DIGITS = re.compile(r"[0-9]{10}")


def check_date(value: str) -> str:
    """ISO 8601: a date (1963-01-06) or a full date and time (2000-02-01T08:30:00Z)."""
    hint = "use YYYY-MM-DD or a full ISO 8601 date and time such as 2000-02-01T08:30:00Z"
    try:
        if _DATE.fullmatch(value):
            date.fromisoformat(value)
        elif _DATETIME.fullmatch(value):
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        else:
            raise ValueError(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 date: {hint}") from None
    return value


def check_time(value: str) -> str:
    """A time of day: HH:MM or HH:MM:SS, optionally ISO 8601's fraction and offset (09:00Z)."""
    if not _TIME.fullmatch(value):
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
    if id_type == NPI and not NPI_DIGITS.fullmatch(id_value):
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

"""One Redox `Providers[]` item as YAML (SPEC 1.2): the frozen model and its field rules."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, ValidationInfo, field_validator

from reconciler.kinds.fields import OID as OID_RULE
from reconciler.kinds.fields import Address, Email, Phone, When, all_of, any_case, text_rule
from reconciler.model import Wire

NPI = "NPI"
OID = "OID"
LOCATION_STATUSES = ("Active", "Suspended", "Inactive")

# --- field rules ------------------------------------------------------------------------------

_TWO = "[0-9]{2}"
_MONTH_DAY = (
    "(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    "|02-(?:0[1-9]|1[0-9]|2[0-8]))"
)
_LEAP_YEAR = f"(?:{_TWO}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
# A real calendar date, leap years included: the pattern is the whole rule.
_DATE = f"(?:[0-9]{{4}}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
_HOUR, _MINUTE = "(?:[01][0-9]|2[0-3])", "[0-5][0-9]"
_CLOCK = f"{_HOUR}:{_MINUTE}(?::{_MINUTE}(?:[.][0-9]+)?)?(?:Z|[+-]{_HOUR}:?{_MINUTE})?"
ISO_DATE = text_rule(
    f"^{_DATE}(?:T{_CLOCK})?$",
    "not an ISO 8601 date: use YYYY-MM-DD (a real date) or a full ISO 8601 date and time "
    "such as 2000-02-01T08:30:00Z",
)
TIME_OF_DAY = text_rule(
    f"^T?{_CLOCK}$",
    'not a time of day: use HH:MM or HH:MM:SS (24-hour, e.g. "17:30"), optionally with an '
    "ISO 8601 offset such as Z or +01:00",
)
LOCATION_STATUS = text_rule(
    f"^(?:{'|'.join(any_case(status) for status in LOCATION_STATUSES)})$",
    "not a location status: use Active, Suspended or Inactive (any case)",
)
NPI_RULE = text_rule("^[0-9]{10}$", "not an NPI: an NPI is exactly 10 digits")
NPI_DIGITS = re.compile(r"[0-9]{10}")


def _time_not_number(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020: say so, not "expected text".
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f'got the number {value!r}: write times in quotes ("17:00"); YAML reads an '
            "unquoted 17:00 as a base-60 number"
        )
    return value


def npi_luhn_ok(npi: str) -> bool:
    """Whether a 10-digit NPI's last digit is the Luhn check digit over 80840 + its first 9."""
    total = 0
    for position, char in enumerate(reversed("80840" + npi)):
        digit = int(char) * (2 if position % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


IsoDate = Annotated[str, ISO_DATE.field]
TimeOfDay = Annotated[str, TIME_OF_DAY.field, BeforeValidator(_time_not_number)]
LocationStatus = Annotated[str, LOCATION_STATUS.field]
Day = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


# --- the Providers[] tree -----------------------------------------------------------------

# An identifier's `id` follows its `id_type`: 10 digits for an NPI, the OID rule for an OID.
IS_NPI = When("id_type", f"^{NPI}$", {"id": NPI_RULE})
IS_OID = When("id_type", f"^{OID}$", {"id": OID_RULE})
IDENTIFIER_RULES = ConfigDict(json_schema_extra=all_of(IS_NPI.schema, IS_OID.schema))


def _identifier_rules(value: Any, info: ValidationInfo) -> Any:
    return IS_OID.check(IS_NPI.check(value, info), info)


class ProviderIdentifier(Wire):
    """One of the provider's own identifiers: `id` is required."""

    model_config = IDENTIFIER_RULES

    # Declared first: the rules of `id` read it.
    id_type: str | None = None
    id: Annotated[str, Field(min_length=1)]

    _rules = field_validator("id")(_identifier_rules)


class Identifier(Wire):
    """An identifier inside the record (qualification, role, organization, location, service)."""

    model_config = IDENTIFIER_RULES

    id_type: str | None = None
    id: str | None = None

    _rules = field_validator("id")(_identifier_rules)


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


class Provider(Wire):
    """One provider file: a Redox `Providers[]` item in snake_case, plus `active`."""

    identifiers: list[ProviderIdentifier] = Field(
        min_length=1,
        description='at least one, the NPI first, e.g. - {id: "1234567893", id_type: NPI}',
    )
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

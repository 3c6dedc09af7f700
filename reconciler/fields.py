"""Field rules shared by the record kinds: OID, phone, email, name and the USPS address rules.

Each is a type the models annotate their fields with, so a rule is declared once."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints, model_validator

from reconciler.model import Wire

_OID = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))+$")
_PHONE = re.compile(r"^\+[0-9]{8,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_oid(value: str) -> str:
    """Carequality OID syntax: digits and dots, >= 2 arcs, first arc 0-2, second 0-39 under 0/1."""
    if not _OID.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an OID: use digits and dots with at least two arcs and no "
            "leading zeros, e.g. 2.16.840.1.113883.3.6147.458.12345"
        )
    arcs = value.split(".")
    if int(arcs[0]) > 2:
        raise ValueError(f"{value!r} is not an OID: the first arc must be 0, 1 or 2")
    if int(arcs[0]) < 2 and int(arcs[1]) > 39:
        raise ValueError(f"{value!r} is not an OID: under arc {arcs[0]} the second arc is 0 to 39")
    return value


def check_phone(value: str) -> str:
    """E.164: a plus sign and 8 to 15 digits."""
    if not _PHONE.fullmatch(value):
        raise ValueError(f"{value!r} is not an E.164 phone number: write it as +16085551234")
    return value


def check_email(value: str) -> str:
    """A plausible email address (one @, a dot in the domain, no spaces)."""
    if not _EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def check_name(value: str) -> str:
    """1 to 200 characters, no control characters."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (tabs, newlines)")
    return value


Oid = Annotated[str, AfterValidator(check_oid)]
Phone = Annotated[str, AfterValidator(check_phone)]
Email = Annotated[str, AfterValidator(check_email)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(check_name)]

_USPS = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH "
    "NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI UM FM MH PW "
    "AA AE AP"
)
USPS_STATES = frozenset(_USPS.split())
_ZIP = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")


def us_address_problems(state: str | None, zip_code: str | None, country: str | None) -> list[str]:
    """USPS rules that apply when the country is the USA: (field, message) pairs as 'field: msg'."""
    if (country or "").strip().upper() not in {"USA", "US"}:
        return []
    problems = []
    if state is not None and state not in USPS_STATES:
        problems.append(f"state: {state!r} is not a two-letter USPS state code (e.g. WI)")
    if zip_code is not None and not _ZIP.fullmatch(zip_code):
        problems.append(f"zip: {zip_code!r} is not a US ZIP code: use 5 digits or 5+4 (53704-1234)")
    return problems


class Address(Wire):
    """A Redox address; USPS rules apply when the country is the USA."""

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

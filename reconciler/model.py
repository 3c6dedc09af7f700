"""What every record kind shares: the frozen base model, the snake_case <-> Redox name rule,
the field validators, and the Kind interface that the pipeline drives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, ParamSpec, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, model_validator

from reconciler.errors import Problem
from reconciler.jsontext import digest, pack, unpack

P = ParamSpec("P")
R = TypeVar("R")

# Words that Redox spells in capitals inside its PascalCase field names.
_ACRONYMS = {"id": "ID", "zip": "ZIP", "dob": "DOB", "mime": "MIME", "oid": "OID", "npi": "NPI"}


def wire_name(snake: str) -> str:
    """Redox's field name for a snake_case key: `id_type` -> `IDType`, `zip` -> `ZIP`."""
    return "".join(_ACRONYMS.get(part, part.capitalize()) for part in snake.split("_"))


_WIRE_WORD = re.compile(r"(?:ID|ZIP|DOB|MIME|OID|NPI)(?=[A-Z]|$)|[A-Z][a-z0-9]*")


def snake_name(wire: str) -> str:
    """The YAML key of a Redox field name: `IDType` -> `id_type`; inverse of wire_name."""
    snake = "_".join(word.lower() for word in _WIRE_WORD.findall(wire))
    if wire_name(snake) != wire:
        raise ValueError(f"no snake_case key maps to the Redox field {wire!r}")
    return snake


def from_wire(value: Any) -> Any:
    """A Redox JSON value with every key in snake_case (the YAML form)."""
    if isinstance(value, dict):
        return {snake_name(k): from_wire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    return value


_WIRE_NAMES: dict[str, str] = {}


def to_wire(value: Any) -> Any:
    """A YAML value with every key in Redox's spelling; the inverse of from_wire.

    For a value a Wire model validated this equals the model's `wire()`: the models are strict
    and their validators never change a value, so the checked YAML is the record (and this is
    many times faster than pydantic's serializer)."""
    if isinstance(value, dict):
        names = _WIRE_NAMES
        wired: dict[str, Any] = {}
        for key, item in value.items():
            name = names.get(key)
            if name is None:
                name = wire_name(key)
                if len(names) < 4096:
                    names[key] = name
            wired[name] = to_wire(item) if isinstance(item, dict | list) else item
        return wired
    if isinstance(value, list):
        return [to_wire(item) if isinstance(item, dict | list) else item for item in value]
    return value


class Wire(BaseModel):
    """A frozen part of a record whose keys are Redox field names in snake_case."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=wire_name,
        validate_by_name=True,
        validate_by_alias=False,
        serialize_by_alias=True,
    )

    def wire(self) -> dict[str, Any]:
        """The Redox JSON of this part: Redox names, omitted keys left out."""
        return self.model_dump(mode="json", exclude_unset=True)


# --- field rules shared by the kinds -------------------------------------------------------

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


# --- the kind interface ---------------------------------------------------------------------

Key = str  # "<kind>:<identity>", the ledger's key for a record


def display_name(payload: dict[str, Any], identity: str) -> str:
    """A human name for a record: an organization's Name, a provider's first and last name."""
    name = payload.get("Name")
    if isinstance(name, str):
        return name
    demo = payload.get("Demographics") or {}
    parts = [demo.get("FirstName"), demo.get("LastName")]
    return " ".join(p for p in parts if isinstance(p, str)) or identity


def make_key(kind: str, identity: str) -> Key:
    """The ledger key of a record."""
    return f"{kind}:{identity}"


@dataclass(frozen=True)
class Environment:
    """What a kind needs to know of the target environment to build its wire form."""

    name: str
    organization_destination: str | None
    provider_destination: str | None
    directory: str
    gateway_oids: frozenset[str]
    external_parents: frozenset[str]


@dataclass(frozen=True, slots=True)
class Loaded:
    """One record file that holds a mapping, reduced to what later stages read: its wire form
    for the environment when valid (`desired`), and for the checks across records the raw
    top-level values they read and the lines of those keys. An invalid file (`desired` is None)
    still takes part in those checks, so all problems show at once."""

    kind: str
    file: str
    facts: dict[str, Any]  # the raw values of the kind's `cross_keys` that the file has
    lines: dict[str, int]  # cross key -> line of the key
    desired: Desired | None

    def text(self, key: str) -> str | None:
        """A top-level value of the raw file (one of the kind's cross keys) when it is text."""
        value = self.facts.get(key)
        return value if isinstance(value, str) else None

    def line(self, key: str) -> int:
        return self.lines.get(key, 1)


@dataclass(frozen=True, slots=True)
class Desired:
    """A record as it must be in one environment: its exact wire payload and dependencies."""

    kind: str
    identity: str
    envelope: dict[str, Any]  # request fields beside the record itself, e.g. {"Directory": ...}
    packed_payload: str  # `payload`, packed
    active: bool
    file: str
    depends_on: tuple[Key, ...]  # records that must exist (and be active) first
    wire_digest: str  # of envelope and payload, as a ledger entry of this record carries it

    @classmethod
    def of(
        cls,
        *,
        kind: str,
        identity: str,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        active: bool,
        file: str,
        depends_on: tuple[Key, ...],
    ) -> Desired:
        """The Desired of a payload: packed, with its digest."""
        wire_digest = digest([envelope, payload])
        return cls(kind, identity, envelope, pack(payload), active, file, depends_on, wire_digest)

    @property
    def key(self) -> Key:
        return make_key(self.kind, self.identity)

    @property
    def payload(self) -> dict[str, Any]:
        """The record exactly as sent (one Organizations[]/Providers[] item)."""
        payload: dict[str, Any] = unpack(self.packed_payload)
        return payload


class Kind:
    """One kind of record (organization, provider): its model, files and wire mapping."""

    name: ClassVar[str]
    folder: ClassVar[str]
    model: ClassVar[type[Wire]]
    data_model: ClassVar[str]  # Redox Meta.DataModel
    active_field: ClassVar[str]  # the payload's active flag: Active, IsActive

    # The top-level keys of a file that `identity` and `check_all` read: all a Loaded keeps of
    # the raw data once the file is validated.
    cross_keys: ClassVar[tuple[str, ...]]

    def identity(self, data: dict[str, Any]) -> str | None:
        """The identity in a file's raw data, or in its cross keys' values (None when it has
        none): never changes, names the record in the ledger and the directory."""
        raise NotImplementedError

    def desired(
        self, record: Wire, data: dict[str, Any], env: Environment, *, file: str
    ) -> Desired:
        """The wire payload for `env` of a validated record (`data`: the YAML it was read from)."""
        raise NotImplementedError

    def check_all(self, loaded: list[Loaded], env: Environment, known: set[Key]) -> list[Problem]:
        """Rules that span records (uniqueness, references, hierarchy)."""
        raise NotImplementedError

    def parent_keys(self, payload: dict[str, Any]) -> tuple[Key, ...]:
        """Keys of the records this payload hangs under (for ordering deactivations)."""
        raise NotImplementedError

    def is_active(self, payload: dict[str, Any]) -> bool:
        """Whether a payload describes an active record."""
        return bool(payload.get(self.active_field, True))

    def with_active(self, payload: dict[str, Any], active: bool) -> dict[str, Any]:
        """The same payload with its active flag set."""
        return {**payload, self.active_field: active}

    def request(
        self,
        action: str,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        *,
        destination: str,
        source_id: str | None,
    ) -> dict[str, Any]:
        """The whole Redox request body that carries out `action` on this payload."""
        raise NotImplementedError

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
        """Every request body, in order, that takes the record from `before` to `payload`."""
        return [
            self.request(action, envelope, payload, destination=destination, source_id=source_id)
        ]

    def destination(self, env: Environment) -> str | None:
        """The Meta.Destinations ID of this kind's requests in `env`."""
        raise NotImplementedError


def meta(
    data_model: str, event_type: str, destination: str, source_id: str | None
) -> dict[str, Any]:
    """The Meta block a sender sets."""
    block: dict[str, Any] = {
        "DataModel": data_model,
        "EventType": event_type,
        "Destinations": [{"ID": destination}],
    }
    if source_id:
        block["Source"] = {"ID": source_id}
    return block

"""What every record kind shares: the snake_case <-> Redox name rule, the frozen base model,
Action and Key, the environment a kind builds its wire form for, and the Kind interface that
the pipeline drives. Pure: no I/O."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from reconciler.errors import Problem
from reconciler.formats.jsontext import canonical_with_digest, unpack

if TYPE_CHECKING:
    from reconciler.redox.api import RedoxApi

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
        # Built on first use, once, as part of the record model that holds it: building each
        # nested part's own validator at import would double the start-up cost of `validate`.
        defer_build=True,
    )

    def wire(self) -> dict[str, Any]:
        """The Redox JSON of this part: Redox names, omitted keys left out."""
        return self.model_dump(mode="json", exclude_unset=True)


# --- plans speak of actions on keyed records ------------------------------------------------


class Action(enum.Enum):
    """What a change does; the order of the members is the order plans list them in."""

    CREATE = "create"
    UPDATE = "update"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"


ACTION_ORDER = {action: index for index, action in enumerate(Action)}

Key = str  # "<kind>:<identity>", the ledger's key for a record


def make_key(kind: str, identity: str) -> Key:
    """The ledger key of a record."""
    return f"{kind}:{identity}"


def split_key(key: Key) -> tuple[str, str]:
    """(kind, identity) of a ledger key."""
    kind, _, identity = key.partition(":")
    return kind, identity


@dataclass(frozen=True)
class Environment:
    """One environment of reconciler.yaml, resolved: where its requests go and what the kinds
    need to know of it to build their wire forms."""

    name: str
    ledger: str  # the ledger file, relative to the repository
    protected: bool = False
    audit: str = ""  # the audit trail, relative to the repository ("": audit/<name>.jsonl)
    destinations: Mapping[str, str | None] = field(default_factory=dict)  # kind -> destination
    directory: str = "Carequality"
    gateway_oids: frozenset[str] = frozenset()
    external_parents: frozenset[str] = frozenset()
    in_process: bool = False  # the built-in sandbox, with no network and no credentials

    def destination(self, kind: str) -> str | None:
        """The Meta.Destinations ID of a kind's requests here (None when none is set)."""
        return self.destinations.get(kind)


@dataclass(frozen=True, slots=True)
class Loaded:
    """One record file that holds a mapping, reduced to what later stages read: its wire form
    for the environment when valid (`desired`), and for the checks across records the raw
    top-level values they read and the lines of those keys. An invalid file (`desired` is None)
    still takes part in those checks, so all problems show at once."""

    kind: str
    file: str
    cross_values: dict[str, Any]  # the raw values of the kind's `cross_keys` that the file has
    lines: dict[str, int]  # cross key -> line of the key
    desired: Desired | None

    def text(self, key: str) -> str | None:
        """A top-level value of the raw file (one of the kind's cross keys) when it is text."""
        value = self.cross_values.get(key)
        return value if isinstance(value, str) else None

    def line(self, key: str) -> int:
        return self.lines.get(key, 1)


@dataclass(frozen=True, slots=True)
class Desired:
    """A record as it must be in one environment: its exact wire payload and dependencies."""

    kind: str
    identity: str
    envelope: dict[str, Any]  # request fields beside the record itself, e.g. {"Directory": ...}
    # `payload` packed as its canonical JSON; or, for a record the stat index vouches for, what
    # reads it when it is asked for (a no-op plan never asks). Equal payloads have equal
    # `wire_digest`s, which is what compares.
    packed: str | Callable[[], str] = field(compare=False)
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
        """The Desired of a payload: packed as its canonical JSON, which its digest is of."""
        packed, wire_digest = canonical_with_digest(envelope, payload)
        envelope, depends_on = shared_envelope(envelope), shared(depends_on)
        return cls(kind, identity, envelope, packed, active, file, depends_on, wire_digest)

    @property
    def packed_payload(self) -> str:
        """`payload` as its canonical JSON."""
        packed = self.packed
        return packed if isinstance(packed, str) else packed()

    @property
    def key(self) -> Key:
        return make_key(self.kind, self.identity)

    @property
    def payload(self) -> dict[str, Any]:
        """The record exactly as sent (one Organizations[]/Providers[] item)."""
        payload: dict[str, Any] = unpack(self.packed_payload)
        return payload


# What many records hold alike (an envelope, the parents they wait for) is held once: 100,000
# records hold a handful. Never changed in place, so sharing is safe.
_SHARED: dict[Any, Any] = {}
T = TypeVar("T")


def shared(value: T) -> T:
    """The one object held for a value equal to `value` (hashable)."""
    found: T = _SHARED.setdefault(value, value)
    return found


def shared_envelope(envelope: dict[str, Any]) -> dict[str, Any]:
    """The one mapping held for an envelope equal to `envelope`."""
    try:
        key = ("envelope", *envelope.items())
        found: dict[str, Any] = _SHARED.setdefault(key, envelope)
    except TypeError:  # a list or a mapping among the values: kept as it is
        return envelope
    return found


# --- the kind interface ---------------------------------------------------------------------


class Kind:
    """One kind of record: everything the pipeline knows of it. Its model and files, identity,
    wire form, the checks across its records, the requests of each action, what a directory
    query shows of it, its display name, its YAML form for import, and the destination setting
    its requests need. Nothing outside kinds/ names a kind."""

    name: ClassVar[str]
    folder: ClassVar[str]
    model: ClassVar[type[Wire]]
    data_model: ClassVar[str]  # Redox Meta.DataModel
    active_field: ClassVar[str]  # the payload's active flag: Active, IsActive
    # reconciler.yaml's key, under each environment, of this kind's Meta.Destinations ID, and
    # the destinations Redox publishes for it (environment name -> ID).
    destination_setting: ClassVar[str]
    built_in_destinations: ClassVar[Mapping[str, str]] = {}
    # Fields a directory query never returns (so no drift check can see them), and fields a
    # query answer adds of its own (never ours to compare).
    hidden_fields: ClassVar[tuple[str, ...]] = ()
    added_fields: ClassVar[tuple[str, ...]] = ()
    # The field of a query answer that names the organization managing the record (one of
    # `added_fields`), when the kind's answers have one: `managing_org` guards by it.
    managing_field: ClassVar[str | None] = None
    # How a plan's field diff pairs the items of a list (by the list's Redox field name, at any
    # depth): by the values of these keys of each item, so that an inserted, removed or
    # reordered item shows as that item alone. Lists not named here pair by value.
    list_identities: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    # Payload fields that a file may give a value per environment (a mapping under the YAML key
    # named here): import writes such a mapping when the environments' ledgers differ.
    per_environment: ClassVar[Mapping[str, str]] = {}
    # The top-level keys of a file that `identity` and `check_all` read: all a Loaded keeps of
    # the raw data once the file is validated.
    cross_keys: ClassVar[tuple[str, ...]]

    # -- files and wire form --

    def identity(self, data: dict[str, Any]) -> str | None:
        """The identity in a file's raw data, or in its cross keys' values (None when it has
        none): never changes, names the record in the ledger and the directory."""
        raise NotImplementedError

    def wire_identity(self, payload: Any) -> str | None:
        """The identity of a wire payload (None when it carries none)."""
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

    def display_name(self, payload: dict[str, Any], identity: str) -> str:
        """A human name for a record."""
        name = payload.get("Name")
        return name if isinstance(name, str) else identity

    def to_yaml(self, payload: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
        """The YAML form of a payload, the inverse of `desired` (import writes it to a file)."""
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        """The JSON Schema of one file, for editors: every rule of the model that JSON Schema
        can state (patterns, enums, if/then), in a draft yaml-language-server understands."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://redox-reconciler.invalid/schema/{self.name}.json",
            **self.model.model_json_schema(by_alias=False),
        }

    # -- requests --

    def request(
        self,
        action: Action,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        *,
        destination: str,
    ) -> dict[str, Any]:
        """The whole Redox request body that carries out `action` on this payload."""
        raise NotImplementedError

    def requests(
        self,
        action: Action,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        *,
        before: dict[str, Any] | None,
        destination: str,
    ) -> list[dict[str, Any]]:
        """Every request body, in order, that takes the record from `before` to `payload`."""
        return [self.request(action, envelope, payload, destination=destination)]

    # -- what a directory query shows --

    async def look_up(
        self,
        api: RedoxApi,
        identity: str,
        *,
        envelope: dict[str, Any],
        like: dict[str, Any] | None,
        env: Environment,
    ) -> dict[str, Any] | None:
        """The directory's record of `identity` (None when it has none). `like` is a payload of
        the record (what was sent or is to be sent), when there is one."""
        raise NotImplementedError

    def queryable(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The part of a payload that a query can return."""
        return {k: v for k, v in payload.items() if k not in self.hidden_fields}

    def comparable(self, found: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
        """The directory's record in the shape of `sent`, so the two compare field by field:
        keys it lacks stay absent; nested keys it adds are dropped. A top-level field that
        someone set there and the files never send is kept (unless empty or the directory's
        own), so drift shows it and a plan shows that the next full-record Update removes it."""
        shaped: dict[str, Any] = _shape(found, self.queryable(sent))
        ignored = {*self.added_fields, *self.hidden_fields}
        for key, value in found.items():
            if key not in sent and key not in ignored and value not in (None, "", [], {}):
                shaped[key] = value
        return shaped

    def managed_by(self, found: dict[str, Any]) -> str | None:
        """Who manages the directory's record, as its query answer says (None: not said)."""
        value = found.get(self.managing_field) if self.managing_field else None
        return value if isinstance(value, str) else None

    def hides(self, payload: dict[str, Any]) -> bool:
        """Whether `payload` holds something a query never shows (non-empty Endpoints, a
        non-null DestinationID): a query matching it cannot prove the directory holds that."""
        return any(payload.get(f) not in (None, "", [], {}) for f in self.hidden_fields)

    def held_payload(self, found: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
        """The payload the directory holds, as far as a query shows it: `comparable`, with the
        fields a query never returns taken from `sent`."""
        hidden = {k: sent[k] for k in self.hidden_fields if k in sent}
        return {**self.comparable(found, sent), **hidden}

    def holds(self, found: dict[str, Any], payload: dict[str, Any]) -> bool:
        """Whether the directory's record holds every queryable field of `payload` as sent."""
        return self.comparable(found, payload) == self.queryable(payload)

    def proven(self, found: dict[str, Any], payload: dict[str, Any]) -> bool:
        """Whether a query proves the directory holds `payload`: every field matches, and none
        is one a query never returns, which no match can prove."""
        return self.queryable(payload) == payload and self.holds(found, payload)


def _shape(found: Any, like: Any) -> Any:
    if isinstance(like, dict) and isinstance(found, dict):
        return {k: _shape(found[k], like[k]) for k in like if k in found}
    if isinstance(like, list) and isinstance(found, list):
        return [_shape(f, like[i]) if i < len(like) else f for i, f in enumerate(found)]
    return found

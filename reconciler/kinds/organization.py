"""Carequality organization records (SPEC 1.1): the YAML model and its Redox wire form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, get_args

from pydantic import ConfigDict, Field, StringConstraints, ValidationInfo, field_validator

from reconciler.errors import Problem
from reconciler.kinds.fields import Address, Email, Name, Oid, Phone, all_of, is_oid
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
    snake_name,
    to_wire,
)
from reconciler.redox import api as redox_api

if TYPE_CHECKING:
    from reconciler.redox.api import RedoxApi

ORGANIZATION = "organization"
OrgTypeValue = Literal["Implementer", "Connection"]
ORG_TYPES: tuple[str, ...] = get_args(OrgTypeValue)


class Identifier(Wire):
    id: str
    id_type: str | None = None


class Coding(Wire):
    system: str | None = None
    value: str | None = None


class OrgType(Wire):
    system: str | None = None
    value: OrgTypeValue


class PhoneNumber(Wire):
    home: Phone | None = None
    work: Phone | None = None
    mobile: Phone | None = None


class Contact(Wire):
    purpose: str | None = None
    name: str | None = None
    email_addresses: list[Email] = Field(default_factory=list)
    phone_number: PhoneNumber | None = None


class EndpointIdentifier(Wire):
    type: str | None = None
    system: str | None = None
    value: str | None = None


class EndpointAttributes(Wire):
    transaction: str | None = None
    actor: Coding | None = None
    version: Coding | None = None
    use_cases: list[Coding] = Field(default_factory=list)
    purpose_of_use: list[Coding] = Field(default_factory=list)
    roles: list[Coding] = Field(default_factory=list)


class Endpoint(Wire):
    identifiers: list[EndpointIdentifier] = Field(default_factory=list)
    connection_type: Coding | None = None
    name: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="Carequality requires a display name for every endpoint"
    )
    address: str | None = None
    mime_type: str | None = None
    attributes: EndpointAttributes | None = None


IMPLEMENTER_CONTACT = (
    "an Implementer needs at least one contact (a Carequality rule): add contacts with a "
    "name and an email address or phone number"
)
# The Carequality rule as JSON Schema: a record whose type is Implementer (written either way)
# has a non-empty `contacts`. `Organization._implementer_contact` is the same rule for pydantic.
# The mapping branch says "object": `properties` and `required` hold of any other value, so
# without it the text "Connection" would match too.
IMPLEMENTER_NEEDS_A_CONTACT: dict[str, Any] = {
    "if": {
        "properties": {
            "type": {
                "anyOf": [
                    {"const": "Implementer"},
                    {
                        "type": "object",
                        "properties": {"value": {"const": "Implementer"}},
                        "required": ["value"],
                    },
                ]
            }
        },
        "required": ["type"],
    },
    "then": {
        "required": ["contacts"],
        "properties": {"contacts": {"minItems": 1}},
        "errorMessage": IMPLEMENTER_CONTACT[:1].upper() + IMPLEMENTER_CONTACT[1:] + ".",
    },
}


class Organization(Wire):
    """One organization file."""

    model_config = ConfigDict(json_schema_extra=all_of(IMPLEMENTER_NEEDS_A_CONTACT))

    oid: Oid
    name: Name
    part_of: Oid
    aliases: list[str] = Field(default_factory=list)
    active: bool = True
    # Declared before `contacts`, whose rule reads it.
    type: OrgTypeValue | OrgType = Field(description="Carequality refuses a record without a type")
    # Redox refuses an empty Directory (400 "Directory is required.").
    directory: Annotated[str, StringConstraints(min_length=1)] | None = None
    destination_id: str | dict[str, str | None] | None = None
    identifiers: list[Identifier] = Field(default_factory=list)
    # Validated when omitted too: an Implementer without the key breaks the rule.
    contacts: list[Contact] = Field(default_factory=list, validate_default=True)
    address: Address | None = None
    endpoints: list[Endpoint] = Field(default_factory=list)

    @property
    def type_value(self) -> str:
        return self.type.value if isinstance(self.type, OrgType) else self.type

    @field_validator("contacts")
    @classmethod
    def _implementer_contact(cls, contacts: list[Contact], info: ValidationInfo) -> list[Contact]:
        kind = info.data.get("type")
        value = kind.value if isinstance(kind, OrgType) else kind
        if value == "Implementer" and not contacts:
            raise ValueError(IMPLEMENTER_CONTACT)
        return contacts


class OrganizationKind(Kind):
    """Organizations: files in orgs/, sent as Organization.New / Organization.Update."""

    name: ClassVar[str] = ORGANIZATION
    folder: ClassVar[str] = "orgs"
    model: ClassVar[type[Wire]] = Organization
    active_field: ClassVar[str] = "Active"
    data_model: ClassVar[str] = "Organization"
    destination_setting: ClassVar[str] = "organization_destination"
    built_in_destinations: ClassVar[Mapping[str, str]] = {
        "development": redox_api.DEVELOPMENT_ORGANIZATION_DESTINATION,
        "production": redox_api.PRODUCTION_ORGANIZATION_DESTINATION,
        "sandbox": redox_api.DEVELOPMENT_ORGANIZATION_DESTINATION,
    }
    # A query never shows where a record's traffic goes, and names the record's manager.
    hidden_fields: ClassVar[tuple[str, ...]] = ("Endpoints", "DestinationID")
    list_identities: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "Identifiers": ("IDType", "ID"),
        "Contacts": ("Purpose", "Name"),
        "Endpoints": ("Name",),
    }
    per_environment: ClassVar[Mapping[str, str]] = {"DestinationID": "destination_id"}
    added_fields: ClassVar[tuple[str, ...]] = ("ManagingOrg",)
    managing_field: ClassVar[str | None] = "ManagingOrg"
    cross_keys: ClassVar[tuple[str, ...]] = ("oid", "part_of", "active")

    def identity(self, data: dict[str, Any]) -> str | None:
        oid = data.get("oid")
        return oid if isinstance(oid, str) else None

    def wire_identity(self, payload: Any) -> str | None:
        """The ID of the Identifiers[] entry whose IDType is OID."""
        if not isinstance(payload, dict):
            return None
        for identifier in payload.get("Identifiers") or []:
            if isinstance(identifier, dict) and identifier.get("IDType") == "OID":
                value = identifier.get("ID")
                if isinstance(value, str) and value:
                    return value
        return None

    def desired(
        self, record: Wire, data: dict[str, Any], env: Environment, *, file: str
    ) -> Desired:
        org = record
        assert isinstance(org, Organization)
        # `data` is the validated YAML: to_wire(data[k]) is the field's wire().
        item: dict[str, Any] = {"Name": org.name}
        if "destination_id" in data:
            destination = _destination_for(org.destination_id, env.name)
            if destination is not _UNSET:
                item["DestinationID"] = destination
        if "aliases" in data:
            item["Aliases"] = list(org.aliases)
        item["Active"] = org.active
        item["Identifiers"] = [
            {"ID": org.oid, "IDType": "OID"},
            *to_wire(data.get("identifiers", [])),
        ]
        if isinstance(org.type, OrgType):
            item["Type"] = to_wire(data["type"])
        else:
            item["Type"] = {"Value": org.type}
        item["PartOf"] = {"Identifier": {"Value": org.part_of}}
        for key in ("contacts", "endpoints"):
            if key in data:
                item[key.capitalize()] = to_wire(data[key])
        if data.get("address") is not None:
            item["Address"] = to_wire(data["address"])
        parent = make_key(ORGANIZATION, org.part_of)
        managed_parent = org.part_of not in env.gateway_oids | env.external_parents
        return Desired.of(
            kind=ORGANIZATION,
            identity=org.oid,
            envelope={"Directory": org.directory or env.directory},
            payload=item,
            active=org.active,
            file=file,
            depends_on=(parent,) if managed_parent else (),
        )

    def check_all(self, loaded: list[Loaded], env: Environment, known: set[Key]) -> list[Problem]:
        problems: list[Problem] = []
        by_oid: dict[str, Loaded] = {}
        for item in loaded:
            oid = item.text("oid")
            if oid is None:
                continue
            first = by_oid.setdefault(oid, item)
            if first is not item:
                problems.append(
                    _problem(
                        item,
                        "oid",
                        f"OID {oid} is already used by {first.file} (line {first.line('oid')}): "
                        "every record needs its own OID",
                    )
                )
        roots = env.gateway_oids | env.external_parents
        for item in loaded:
            oid, part_of = item.text("oid"), item.text("part_of")
            if part_of is None:
                continue
            parent = by_oid.get(part_of)
            if not is_oid(part_of):
                continue  # the model reports the syntax, on its own line
            if part_of == oid:
                problems.append(_problem(item, "part_of", "a record cannot be part of itself"))
            elif parent is None and part_of not in roots:
                problems.append(
                    _problem(
                        item,
                        "part_of",
                        f"part_of {part_of} is neither the Redox gateway "
                        f"({', '.join(sorted(env.gateway_oids))}), a record in orgs/, nor listed "
                        "under external_parents in reconciler.yaml",
                    )
                )
            elif parent is not None and _active(item) and not _active(parent):
                problems.append(
                    _problem(
                        item,
                        "active" if "active" in item.lines else "part_of",
                        f"this record is active but its parent {part_of} ({parent.file}) is "
                        "inactive: deactivate this record too (active: false) or reactivate "
                        "the parent",
                    )
                )
        problems.extend(_cycles(by_oid))
        return problems

    def to_yaml(self, payload: dict[str, Any], envelope: dict[str, Any]) -> dict[str, Any]:
        ids = [i for i in payload.get("Identifiers") or [] if isinstance(i, dict)]
        oid = self.wire_identity(payload) or ""
        doc: dict[str, Any] = {"oid": oid, "name": payload.get("Name", "")}
        if payload.get("Aliases"):
            doc["aliases"] = list(payload["Aliases"])
        doc["active"] = bool(payload.get("Active", True))
        kind = payload.get("Type") or {}
        if set(kind) == {"Value"}:
            doc["type"] = kind["Value"]
        elif kind:
            doc["type"] = from_wire(kind)
        doc["part_of"] = (payload.get("PartOf") or {}).get("Identifier", {}).get("Value")
        directory = envelope.get("Directory")
        if directory and directory != "Carequality":
            doc["directory"] = directory
        if "DestinationID" in payload:
            doc["destination_id"] = payload["DestinationID"]
        others = [i for i in ids if not (i.get("IDType") == "OID" and str(i.get("ID")) == oid)]
        if others:
            doc["identifiers"] = from_wire(others)
        for key in ("Contacts", "Address", "Endpoints"):
            if payload.get(key):
                doc[snake_name(key)] = from_wire(payload[key])
        return doc

    def parent_keys(self, payload: dict[str, Any]) -> tuple[Key, ...]:
        # A ledger read back may hold any JSON here: a hand edit is no reason to crash.
        part_of = payload.get("PartOf")
        identifier = part_of.get("Identifier") if isinstance(part_of, dict) else None
        value = identifier.get("Value") if isinstance(identifier, dict) else None
        return (make_key(ORGANIZATION, value),) if isinstance(value, str) else ()

    def request(
        self,
        action: Action,
        envelope: dict[str, Any],
        payload: dict[str, Any],
        *,
        destination: str,
    ) -> dict[str, Any]:
        # Deactivate and reactivate are Updates that carry the whole record (Redox has no patch).
        event, verb = ("New", "Create") if action == Action.CREATE else ("Update", "Update")
        return {
            "Meta": redox_api.meta(self.data_model, event, destination),
            **envelope,
            "Action": verb,
            "Organizations": [payload],
        }

    async def look_up(
        self,
        api: RedoxApi,
        identity: str,
        *,
        envelope: dict[str, Any],
        like: dict[str, Any] | None,
        env: Environment,
    ) -> dict[str, Any] | None:
        query = redox_api.organization_query(
            directory=str(envelope.get("Directory") or env.directory),
            destination=env.destination(self.name) or "",
            oid=identity,
        )
        found = await redox_api.query_pages(api, query, records="Organizations")
        match = next((r for r in found if identity in _oids(r)), None)
        if match is None and like is not None and not self.is_active(like):
            # Redox does not document whether a query that does not say `Active` shows inactive
            # records: one that shows none is asked again for inactive ones, or a deactivated
            # record would read as missing (never verified, always drifted).
            query = {**query, "Active": False}
            found = await redox_api.query_pages(api, query, records="Organizations")
            match = next((r for r in found if identity in _oids(r)), None)
        return match


_UNSET: Any = object()


def _destination_for(value: str | dict[str, str | None] | None, env: str) -> Any:
    """DestinationID for `env`: a plain value applies everywhere; a mapping names environments."""
    if isinstance(value, dict):
        return value.get(env, _UNSET)
    return value


def _oids(record: dict[str, Any]) -> set[str]:
    return {
        str(i.get("ID"))
        for i in record.get("Identifiers") or []
        if isinstance(i, dict) and i.get("IDType") == "OID"
    }


def _active(item: Loaded) -> bool:
    return item.cross_values.get("active", True) is not False


def _problem(item: Loaded, key: str, message: str) -> Problem:
    return Problem(item.file, item.line(key), message, subject=item.text("oid") or "")


def _cycles(by_oid: dict[str, Loaded]) -> list[Problem]:
    """One problem per part_of cycle, reported on each of its records' part_of lines."""
    problems: list[Problem] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for start in sorted(by_oid):
        path: list[str] = []
        oid: str | None = start
        while oid is not None and oid in by_oid and state.get(oid) is None:
            state[oid] = 1
            path.append(oid)
            oid = by_oid[oid].text("part_of")
        if oid is not None and state.get(oid) == 1:
            cycle = path[path.index(oid) :]
            chain = " -> ".join([*cycle, oid])
            for member in cycle:
                problems.append(
                    _problem(
                        by_oid[member],
                        "part_of",
                        f"part_of makes a cycle ({chain}): the top record must be part of the "
                        "Redox gateway or an external parent",
                    )
                )
        for done in path:
            state[done] = 2
    return problems

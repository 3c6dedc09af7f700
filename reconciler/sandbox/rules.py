"""What Redox and the Carequality directory refuse in a request's records, and how they say it:
each rule with the HTTP status and Meta.Errors text it answers a record that breaks it with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.kinds.organization import ORG_TYPES, OrganizationKind
from reconciler.kinds.provider import ProviderKind
from reconciler.redox.api import PARSE_FAILED

# The identity rules are the kinds' own: the sandbox and the reconciler never disagree on them.
organization_oid = OrganizationKind().wire_identity
provider_identity = ProviderKind().wire_identity


class Refusal(Exception):
    """A request Redox would refuse: its HTTP status and its Meta.Errors[].Text."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


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


def checked(record: Any, rules: tuple[ContentRule, ...], what: str) -> None:
    """Refuse `record` the way Redox refuses the first rule it breaks."""
    if not isinstance(record, dict):
        raise Refusal(400, f"{what} items must be objects.")
    broken = broken_rules(record, rules)
    if broken:
        raise Refusal(broken[0].status, broken[0].text)


def checked_organization(record: Any) -> str:
    """The OID of a New/Update record, refused the way Redox refuses an incomplete one."""
    checked(record, ORGANIZATION_RULES, "Organizations[]")
    oid = organization_oid(record)
    assert oid is not None  # a rule above
    return oid

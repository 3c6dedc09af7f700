"""Organization records: the YAML -> Redox wire mapping and every field rule (SPEC 1.1)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from factories import GATEWAY, OMIT, Repo, organization
from redox_schemas import assert_valid_bodies

from reconciler.errors import Problem
from reconciler.kinds import kind_of
from reconciler.kinds.organization import Organization, OrganizationKind
from reconciler.model import Action, Environment, wire_name
from reconciler.records.loader import load_file
from reconciler.redox.api import with_source

KIND = kind_of("organization")


def environment(name: str = "sandbox") -> Environment:
    return Environment(
        name=name,
        ledger=f"ledger/{name}.json",
        destinations={"organization": "dest-org", "provider": None},
        directory="Carequality",
        gateway_oids=frozenset({GATEWAY}),
        external_parents=frozenset(),
    )


def payload(data: dict[str, Any], env: str = "sandbox") -> dict[str, Any]:
    """The Organizations[] item sent for `data` in environment `env`."""
    record = Organization.model_validate(data)
    return KIND.desired(record, data, environment(env), file="orgs/x.yaml").payload


@pytest.fixture
def problems(repo: Any) -> Any:
    """problems(data_or_text) -> the Problems of one organization file on disk."""
    made: Repo = repo()

    def check(content: Any) -> list[Problem]:
        path = made.org("record", content)
        _loaded, found = load_file(path, "orgs/record.yaml", KIND, environment())
        return found

    return check


def messages(found: list[Problem]) -> list[str]:
    return [p.message for p in found]


# --- the name rule ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("snake", "redox"),
    [
        ("name", "Name"),
        ("id_type", "IDType"),
        ("zip", "ZIP"),
        ("street_address", "StreetAddress"),
        ("email_addresses", "EmailAddresses"),
        ("phone_number", "PhoneNumber"),
        ("mime_type", "MIMEType"),
        ("dob", "DOB"),
        ("available_start_time", "AvailableStartTime"),
        ("purpose_of_use", "PurposeOfUse"),
    ],
)
def test_wire_name_follows_the_snake_case_rule(snake: str, redox: str) -> None:
    assert wire_name(snake) == redox


def test_full_record_maps_to_the_redox_item() -> None:
    data = organization(
        aliases=["Test", "T1"],
        identifiers=[{"id": "0000000001", "id_type": "FACID"}],
        destination_id="dest-1",
    )
    data["address"]["county"] = "Dane"
    assert payload(data) == {
        "Name": "Test Facility 1",
        "Aliases": ["Test", "T1"],
        "Active": True,
        "DestinationID": "dest-1",
        "Identifiers": [
            {"ID": data["oid"], "IDType": "OID"},
            {"ID": "0000000001", "IDType": "FACID"},
        ],
        "Type": {"Value": "Implementer"},
        "PartOf": {"Identifier": {"Value": GATEWAY}},
        "Contacts": [
            {
                "Purpose": "Technical",
                "Name": "Interop Team",
                "EmailAddresses": ["interop@example.org"],
                "PhoneNumber": {"Work": "+16085550100"},
            }
        ],
        "Address": {
            "StreetAddress": "1 Main St",
            "City": "Madison",
            "State": "WI",
            "ZIP": "53703",
            "County": "Dane",
            "Country": "USA",
        },
    }


def test_omitted_keys_are_not_sent() -> None:
    minimal = {"oid": "1.2.3", "name": "Minimal", "part_of": GATEWAY, "type": "Connection"}
    assert payload(minimal) == {
        "Name": "Minimal",
        "Active": True,
        "Identifiers": [{"ID": "1.2.3", "IDType": "OID"}],
        "Type": {"Value": "Connection"},
        "PartOf": {"Identifier": {"Value": GATEWAY}},
    }


def test_explicit_null_is_sent_but_omitted_subkeys_are_not() -> None:
    data = organization(address={"city": "Madison", "county": None})
    assert payload(data)["Address"] == {"City": "Madison", "County": None}


def test_oid_is_always_the_first_identifier() -> None:
    data = organization(identifiers=[{"id": "7", "id_type": "FACID"}, {"id": "x"}])
    assert payload(data)["Identifiers"] == [
        {"ID": data["oid"], "IDType": "OID"},
        {"ID": "7", "IDType": "FACID"},
        {"ID": "x"},
    ]


def test_part_of_is_sent_as_the_parent_identifier_value() -> None:
    data = organization(part_of="2.16.840.1.113883.3.6147.458.3")
    assert payload(data)["PartOf"] == {"Identifier": {"Value": "2.16.840.1.113883.3.6147.458.3"}}


@pytest.mark.parametrize(
    ("written", "sent"),
    [
        ("Connection", {"Value": "Connection"}),
        ({"value": "Connection"}, {"Value": "Connection"}),
        ({"system": "urn:cq", "value": "Connection"}, {"System": "urn:cq", "Value": "Connection"}),
    ],
)
def test_type_as_text_or_as_system_and_value(written: Any, sent: dict[str, str]) -> None:
    assert payload(organization(type=written))["Type"] == sent


def test_type_text_and_value_only_mapping_send_the_same() -> None:
    assert payload(organization(type="Implementer")) == payload(
        organization(type={"value": "Implementer"})
    )


def test_type_is_required_naming_its_values(problems: Any) -> None:
    (found,) = problems(organization(type=OMIT))
    assert found.message == (
        "missing required key 'type': write type: Implementer or type: Connection "
        "(Carequality refuses a record without a type)"
    )
    assert found.line == 1


@pytest.mark.parametrize(
    ("written", "env", "sent"),
    [
        ("dest-1", "development", "dest-1"),
        ("dest-1", "production", "dest-1"),
        (None, "production", None),
        ({"development": None, "production": "p-1"}, "production", "p-1"),
        ({"development": None, "production": "p-1"}, "development", None),
    ],
)
def test_destination_id_is_resolved_per_environment(written: Any, env: str, sent: Any) -> None:
    assert payload(organization(destination_id=written), env)["DestinationID"] == sent


def test_destination_id_mapping_without_the_environment_is_not_sent() -> None:
    data = organization(destination_id={"production": "p-1"})
    assert "DestinationID" not in payload(data, "sandbox")


def test_destination_id_omitted_is_not_sent() -> None:
    assert "DestinationID" not in payload(organization(), "production")


def test_endpoints_map_every_key_by_the_rule() -> None:
    endpoint = {
        "identifiers": [{"type": "HCID", "system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2"}],
        "connection_type": {"system": "cq", "value": "ihe-xcpd"},
        "name": "XCPD",
        "address": "https://example.org/xcpd",
        "mime_type": "application/soap+xml",
        "attributes": {
            "transaction": "XCPD",
            "actor": {"value": "Responding"},
            "version": {"value": "2.0"},
            "use_cases": [{"value": "Treatment"}],
            "purpose_of_use": [{"system": "cq", "value": "TREATMENT"}],
            "roles": [{"value": "Responding Gateway"}],
        },
    }
    assert payload(organization(endpoints=[endpoint]))["Endpoints"] == [
        {
            "Identifiers": [
                {"Type": "HCID", "System": "urn:ietf:rfc:3986", "Value": "urn:oid:1.2"}
            ],
            "ConnectionType": {"System": "cq", "Value": "ihe-xcpd"},
            "Name": "XCPD",
            "Address": "https://example.org/xcpd",
            "MIMEType": "application/soap+xml",
            "Attributes": {
                "Transaction": "XCPD",
                "Actor": {"Value": "Responding"},
                "Version": {"Value": "2.0"},
                "UseCases": [{"Value": "Treatment"}],
                "PurposeOfUse": [{"System": "cq", "Value": "TREATMENT"}],
                "Roles": [{"Value": "Responding Gateway"}],
            },
        }
    ]


def test_request_bodies_validate_against_the_redox_schemas() -> None:
    data = organization(
        aliases=["A"],
        destination_id="d",
        identifiers=[{"id": "1", "id_type": "FACID"}],
        endpoints=[{"name": "E", "mime_type": "text/xml", "attributes": {"use_cases": []}}],
    )
    item = payload(data)
    envelope = {"Directory": "Carequality"}
    bodies = [
        with_source(KIND.request(action, envelope, item, destination="dest"), "src")
        for action in (Action.CREATE, Action.UPDATE, Action.DEACTIVATE)
    ]
    assert [b["Meta"]["EventType"] for b in bodies] == ["New", "Update", "Update"]
    assert all(b["Organizations"] == [item] for b in bodies)
    assert_valid_bodies(bodies)


# --- field rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "oid",
    [
        "1.2",
        "0.0",
        "2.999",
        "1.39.5",
        "0.39",
        "2.16.840.1.113883.3.6147.458.12345.1.1.1",
        "2.0.10.100",
    ],
)
def test_valid_oids(problems: Any, oid: str) -> None:
    assert problems(organization(oid=oid)) == []


@pytest.mark.parametrize(
    ("oid", "why"),
    [
        ("1", "at least two arcs"),
        ("", "at least two arcs"),
        ("3.1", "first arc must be 0, 1 or 2"),
        ("1.40", "second arc is 0 to 39"),
        ("0.40.1", "second arc is 0 to 39"),
        ("2.16.0840", "leading zeros"),
        ("01.2", "leading zeros"),
        ("1..2", "digits and dots"),
        ("1.2.", "digits and dots"),
        (".1.2", "digits and dots"),
        ("1.2.a", "digits and dots"),
        ("1.2 ", "digits and dots"),
        ("urn:oid:1.2.3", "digits and dots"),
    ],
)
def test_invalid_oids(problems: Any, oid: str, why: str) -> None:
    (found,) = problems(organization(oid=oid))
    assert found.message.startswith("oid: ")
    assert why in found.message
    assert found.line == 1


def test_part_of_follows_the_oid_rules_too(problems: Any) -> None:
    found = problems(organization(part_of="1.40"))
    assert [p.message.split(":")[0] for p in found] == ["part_of"]


@pytest.mark.parametrize("phone", ["+16085550100", "+12345678", "+123456789012345"])
def test_valid_phones(problems: Any, phone: str) -> None:
    data = organization()
    data["contacts"][0]["phone_number"] = {"work": phone, "mobile": phone, "home": phone}
    assert problems(data) == []


@pytest.mark.parametrize(
    "phone", ["6085550100", "+1234567", "+1234567890123456", "+1 608 555 0100", "+1-608-5550100"]
)
def test_invalid_phones(problems: Any, phone: str) -> None:
    data = organization()
    data["contacts"][0]["phone_number"] = {"mobile": phone}
    (found,) = problems(data)
    assert found.message.startswith("contacts[0].phone_number.mobile: ")
    assert "E.164" in found.message


@pytest.mark.parametrize("email", ["a@b.co", "first.last+tag@sub.example.org"])
def test_valid_emails(problems: Any, email: str) -> None:
    data = organization()
    data["contacts"][0]["email_addresses"] = [email]
    assert problems(data) == []


@pytest.mark.parametrize("email", ["plain", "a@b", "a b@c.org", "@c.org", "a@@c.org"])
def test_invalid_emails(problems: Any, email: str) -> None:
    data = organization()
    data["contacts"][0]["email_addresses"] = ["ok@example.org", email]
    (found,) = problems(data)
    assert found.message == (
        f"contacts[0].email_addresses[1]: {email!r} is not an email address: "
        "write it as name@example.org"
    )


@pytest.mark.parametrize(
    "address",
    [
        {"state": "WI", "zip": "53703", "country": "USA"},
        {"state": "PR", "zip": "00901-1234", "country": "USA"},
        {"state": "Ontario", "zip": "K1A 0B1", "country": "Canada"},
        {"state": "Bavaria", "zip": "80331", "country": "DE"},
        {"state": "Wisconsin", "zip": "5370"},  # no country: the USPS rules do not apply
    ],
)
def test_usps_rules_apply_only_in_the_usa(problems: Any, address: dict[str, str]) -> None:
    assert problems(organization(address=address)) == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ({"state": "Wisconsin", "country": "USA"}, "state: 'Wisconsin' is not a two-letter USPS"),
        ({"state": "wi", "country": "USA"}, "state: 'wi' is not a two-letter USPS"),
        ({"state": "ZZ", "country": "USA"}, "state: 'ZZ' is not a two-letter USPS"),
        ({"zip": "5370", "country": "USA"}, "zip: '5370' is not a US ZIP code"),
        ({"zip": "53703-12", "country": "USA"}, "zip: '53703-12' is not a US ZIP code"),
        ({"zip": "K1A 0B1", "country": "usa"}, "zip: 'K1A 0B1' is not a US ZIP code"),
    ],
)
def test_usps_rules_in_the_usa(problems: Any, address: dict[str, str], why: str) -> None:
    (found,) = problems(organization(address=address))
    assert why in found.message
    assert found.message.startswith("address." + why.split(":")[0] + ": ")


def test_implementer_needs_a_contact(problems: Any) -> None:
    (found,) = problems(organization(type="Implementer", contacts=[]))
    assert "an Implementer needs at least one contact" in found.message
    (found,) = problems(organization(type={"value": "Implementer"}, contacts=OMIT))
    assert "an Implementer needs at least one contact" in found.message


def test_connection_needs_no_contact(problems: Any) -> None:
    assert problems(organization(type="Connection", contacts=OMIT)) == []


@pytest.mark.parametrize("name", ["X", "x" * 200, "Café Zürich - Ost", "A & B (North)"])
def test_valid_names(problems: Any, name: str) -> None:
    assert problems(organization(name=name)) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "name: must not be empty"),
        ("x" * 201, "name: is too long (201 characters; at most 200)"),
        ("a\tb", "name: must not contain control characters"),
        ("a\nb", "name: must not contain control characters"),
        ("a\x7fb", "name: must not contain control characters"),
        ("a\x00b", "name: must not contain control characters"),
    ],
)
def test_invalid_names(problems: Any, name: str, why: str) -> None:
    (found,) = problems(organization(name=name))
    assert found.message.startswith(why)


def test_unknown_keys_are_rejected_at_every_depth(problems: Any) -> None:
    data = organization(colour="blue")
    data["contacts"][0]["fax"] = "+16085550100"
    data["address"]["cty"] = "Madison"
    assert sorted(messages(problems(data))) == [
        "unknown key 'colour': remove it or check its spelling",
        "unknown key 'cty': did you mean 'city'? (in address)",
        "unknown key 'fax': remove it or check its spelling (in contacts[0])",
    ]


def test_a_near_miss_key_suggests_the_right_one(problems: Any) -> None:
    data = organization(part_off=GATEWAY, part_of=OMIT)
    assert "unknown key 'part_off': did you mean 'part_of'?" in messages(problems(data))


@pytest.mark.parametrize("key", ["oid", "name", "part_of"])
def test_required_keys(problems: Any, key: str) -> None:
    (found,) = problems(organization(**{key: OMIT}))
    assert found.message == f"missing required key {key!r}"


def test_active_defaults_to_true() -> None:
    assert payload(organization(active=OMIT))["Active"] is True
    assert payload(organization(active=False))["Active"] is False


def test_active_must_be_a_boolean(problems: Any) -> None:
    (found,) = problems(organization(active="no"))
    assert found.message.startswith("active: expected true or false")


def test_models_are_frozen() -> None:
    record = Organization.model_validate(organization())
    with pytest.raises(ValueError, match="frozen"):
        record.name = "Other"  # type: ignore[misc]


# -- look_up ---------------------------------------------------------------------------------


def test_look_up_asks_again_for_inactive_records_when_a_plain_query_leaves_them_out() -> None:
    """A directory whose plain query shows active records only: a deactivated record is still
    found, by a second query that asks for inactive ones; an active one costs one query."""
    oid = "2.16.840.1.113883.3.6147.458.24601.1.4"
    stored = {"Name": "Dubuque", "Active": False, "Identifiers": [{"ID": oid, "IDType": "OID"}]}
    asked: list[dict[str, Any]] = []

    class ActiveOnly:
        async def send(self, body: dict[str, Any]) -> dict[str, Any]:
            asked.append(body)
            shown = [stored] if body.get("Active") is False else []
            return {"Organizations": shown, "Paging": {"Count": len(shown), "Index": 0}}

    env = Environment(name="development", ledger="ledger/development.json")
    kind = OrganizationKind()

    async def look(like: dict[str, Any] | None) -> dict[str, Any] | None:
        return await kind.look_up(
            ActiveOnly(), oid, envelope={"Directory": "Carequality"}, like=like, env=env
        )

    assert asyncio.run(look(stored)) == stored
    assert [body.get("Active") for body in asked] == [None, False]
    asked.clear()
    assert asyncio.run(look({**stored, "Active": True})) is None
    assert [body.get("Active") for body in asked] == [None]

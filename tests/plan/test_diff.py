"""Field diffs pair list items by identity (SPEC 2, plan semantics): Identifiers by IDType and
ID, Contacts by Purpose and Name, Endpoints by Name, a provider's lists by their Identifiers.
Inserting, removing or reordering one item shows exactly that item.

Each case plans real files against a ledger settled from other files; the text and markdown
renderings of those diffs are kept as golden files (tests/golden/plan_lists.*; regenerate with
UPDATE_GOLDEN=1, as tests/render/test_plan.py says).
"""

from __future__ import annotations

import copy
from typing import Any

from factories import Repo, organization
from golden import check_golden

from reconciler.plan import FieldChange, Plan, field_changes
from reconciler.render import plan_document, render_markdown, render_text


def contact(purpose: str, name: str, email: str) -> dict[str, Any]:
    return {"purpose": purpose, "name": name, "email_addresses": [email]}


TECHNICAL = contact("Technical", "Interop Team", "interop@example.org")
ADMIN = contact("Administrative", "Front Desk", "desk@example.org")
LEGAL = contact("Legal", "Counsel", "counsel@example.org")
NEWCOMER = contact("Operations", "Night Shift", "night@example.org")


def endpoint(name: str, address: str) -> dict[str, Any]:
    return {"name": name, "address": address, "mime_type": "application/soap+xml"}


def planned(repo: Any, before: dict[str, Any], after: dict[str, Any]) -> Plan:
    made: Repo = repo({"clinic": before})
    made.settle()
    made.org("clinic", after)
    return made.plan()


def fields_of(plan: Plan) -> tuple[FieldChange, ...]:
    (change,) = plan.changes
    return change.fields


def test_a_contact_inserted_first_is_one_added_item(repo: Any) -> None:
    before = organization(1, contacts=[TECHNICAL, ADMIN])
    after = organization(1, contacts=[NEWCOMER, TECHNICAL, ADMIN])
    fields = fields_of(planned(repo, before, after))
    assert [(f.path, f.added, f.removed, f.moved_from) for f in fields] == [
        ("Contacts[0]", True, False, None)
    ]
    assert fields[0].after["Name"] == "Night Shift"


def test_a_contact_removed_from_the_middle_is_one_removed_item(repo: Any) -> None:
    before = organization(1, contacts=[TECHNICAL, ADMIN, LEGAL])
    after = organization(1, contacts=[TECHNICAL, LEGAL])
    fields = fields_of(planned(repo, before, after))
    assert [(f.path, f.removed) for f in fields] == [("Contacts[1]", True)]
    assert fields[0].before["Name"] == "Front Desk"


def test_a_contact_moved_is_one_moved_item(repo: Any) -> None:
    before = organization(1, contacts=[TECHNICAL, ADMIN, LEGAL])
    after = organization(1, contacts=[LEGAL, TECHNICAL, ADMIN])
    assert fields_of(planned(repo, before, after)) == (
        FieldChange("Contacts[0]", moved_from="Contacts[2]"),
    )


def test_a_changed_contact_is_compared_with_itself_wherever_it_went(repo: Any) -> None:
    moved_admin = {**ADMIN, "email_addresses": ["reception@example.org"]}
    before = organization(1, contacts=[TECHNICAL, ADMIN])
    after = organization(1, contacts=[NEWCOMER, TECHNICAL, moved_admin])
    fields = fields_of(planned(repo, before, after))
    assert [(f.path, f.before, f.after) for f in fields if not f.added] == [
        ("Contacts[2].EmailAddresses[0]", "desk@example.org", "reception@example.org")
    ]
    assert [f.path for f in fields if f.added] == ["Contacts[0]"]


def test_identifiers_and_endpoints_pair_by_identity(repo: Any) -> None:
    fac = {"id": "0000000001", "id_type": "FACID"}
    npi = {"id": "1234567893", "id_type": "NPI"}
    east = endpoint("East", "https://east.example.org/xcpd")
    west = endpoint("West", "https://west.example.org/xcpd")
    before = organization(1, identifiers=[fac], endpoints=[east, west])
    after = organization(
        1,
        identifiers=[npi, fac],
        endpoints=[west, {**east, "address": "https://east2.example.org/xcpd"}],
    )
    fields = fields_of(planned(repo, before, after))
    assert [(f.path, f.added, f.moved_from, f.after) for f in fields] == [
        ("Endpoints[0]", False, "Endpoints[1]", None),
        ("Endpoints[1].Address", False, None, "https://east2.example.org/xcpd"),
        # The OID is always Identifiers[0]: FACID stays after it, NPI comes between them.
        ("Identifiers[1]", True, None, {"ID": "1234567893", "IDType": "NPI"}),
    ]


def test_a_contact_whose_identity_changes_is_removed_and_added() -> None:
    before = {"Contacts": [{"Purpose": "Technical", "Name": "A", "Email": "a@x.org"}]}
    after = {"Contacts": [{"Purpose": "Technical", "Name": "B", "Email": "a@x.org"}]}
    identities = {"Contacts": ("Purpose", "Name")}
    fields = field_changes(before, after, identities=identities)
    assert [(f.path, f.added, f.removed) for f in fields] == [
        ("Contacts[0]", False, True),
        ("Contacts[0]", True, False),
    ]


def test_lists_without_an_identity_pair_by_value_then_by_place() -> None:
    assert field_changes({"Aliases": ["A", "B"]}, {"Aliases": ["X", "A", "B"]}) == (
        FieldChange("Aliases[0]", after="X", added=True),
    )
    assert field_changes({"Aliases": ["A", "B"]}, {"Aliases": ["A", "C"]}) == (
        FieldChange("Aliases[1]", before="B", after="C"),
    )
    assert field_changes({"Aliases": ["A", "B", "C"]}, {"Aliases": ["C", "A", "B"]}) == (
        FieldChange("Aliases[0]", moved_from="Aliases[2]"),
    )
    # Items with identity keys missing, or repeated, pair as items without an identity.
    twins = [{"Purpose": "T", "Name": "Same", "N": 1}, {"Purpose": "T", "Name": "Same", "N": 2}]
    changed = copy.deepcopy(twins)
    changed[1]["N"] = 3
    assert field_changes(
        {"Contacts": twins}, {"Contacts": changed}, identities={"Contacts": ("Purpose", "Name")}
    ) == (FieldChange("Contacts[1].N", before=2, after=3),)


def test_values_of_another_type_differ() -> None:
    assert field_changes({"A": 1, "B": True, "C": 1}, {"A": 1.0, "B": 1, "C": 1}) == (
        FieldChange("A", before=1, after=1.0),
        FieldChange("B", before=True, after=1),
    )


def test_a_provider_role_inserted_first_is_one_added_item(repo: Any) -> None:
    role_a = {"Identifiers": [{"ID": "R-1", "IDType": "Role"}], "Organization": {"Name": "A"}}
    role_b = {"Identifiers": [{"ID": "R-2", "IDType": "Role"}], "Organization": {"Name": "B"}}
    role_c = {"Identifiers": [{"ID": "R-3", "IDType": "Role"}], "Organization": {"Name": "C"}}
    from reconciler.kinds import kind_of

    identities = kind_of("provider").list_identities
    fields = field_changes(
        {"Roles": [role_a, role_b]}, {"Roles": [role_c, role_a, role_b]}, identities=identities
    )
    assert [(f.path, f.added) for f in fields] == [("Roles[0]", True)]


def lists_plan(repo: Any) -> Plan:
    """One update that inserts a contact, moves an endpoint and changes a moved one."""
    east = endpoint("East", "https://east.example.org/xcpd")
    west = endpoint("West", "https://west.example.org/xcpd")
    before = organization(1, contacts=[TECHNICAL, ADMIN, LEGAL], endpoints=[east, west])
    after = organization(
        1,
        contacts=[NEWCOMER, TECHNICAL, {**ADMIN, "name": "Reception"}, LEGAL],
        endpoints=[west, {**east, "mime_type": "application/xml"}],
    )
    return planned(repo, before, after)


def test_list_diffs_in_text_and_markdown_match_the_golden_files(repo: Any) -> None:
    plan = lists_plan(repo)
    check_golden("plan_lists_text.txt", render_text(plan, color=False))
    check_golden("plan_lists_markdown.md", render_markdown(plan))
    # The JSON document carries the move as it is.
    (doc,) = plan_document(plan)["changes"]
    assert {"path": "Endpoints[0]", "moved_from": "Endpoints[1]"}.items() <= next(
        f for f in doc["fields"] if f.get("moved_from")
    ).items()

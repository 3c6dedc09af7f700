"""Ownership (SPEC 2): the verdict on a Create answered "already exists", for every case the
spec names: adopt, adopt with an Update of what a query cannot show, overwrite (this tool's own
Create, or --adopt-existing), refuse, and managing_org over all of them."""

from __future__ import annotations

from typing import Any

import pytest
from factories import facility_payload

from reconciler.engine.ownership import decide
from reconciler.kinds import kind_of

OID = "2.16.840.1.113883.3.6147.458.24601.1.7"
ORGS = kind_of("organization")
PROVIDERS = kind_of("provider")
OURS = "Acme Health IT"


def shown(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """What a query answers for a record holding `payload`: no Endpoints or DestinationID, the
    nested keys the directory adds, and a ManagingOrg."""
    answer = {k: v for k, v in payload.items() if k not in ("Endpoints", "DestinationID")}
    answer["Type"] = {**answer["Type"], "System": "http://hl7.org/fhir/organization-type"}
    answer["ManagingOrg"] = OURS
    answer.update(changes)
    return answer


PLANNED = facility_payload(OID, "Northwind Verona Clinic")


def verdict(found: dict[str, Any] | None, planned: dict[str, Any] = PLANNED, **flags: Any) -> Any:
    options = {"ours": False, "adopt_existing": False, "managing_org": None, **flags}
    return decide(ORGS, found, planned, **options)


def test_the_same_record_is_adopted_with_no_call() -> None:
    assert verdict(shown(PLANNED)).verdict == "adopt"


@pytest.mark.parametrize(
    ("hidden", "expected"),
    [
        (
            {"Endpoints": [{"Name": "XCA", "Address": "https://xca.example.org"}]},
            "adopt_and_update",
        ),
        ({"DestinationID": "0f3c-destination"}, "adopt_and_update"),
        ({"Endpoints": [], "DestinationID": None}, "adopt"),  # nothing a query could not show
    ],
)
def test_what_a_query_cannot_show_is_sent_in_one_update(
    hidden: dict[str, Any], expected: str
) -> None:
    planned = {**PLANNED, **hidden}
    assert verdict(shown(planned), planned).verdict == expected


def test_a_record_created_elsewhere_is_refused_naming_the_fields_that_differ() -> None:
    found = shown(PLANNED, Name="Verona Clinic (hand-made)", Address={"City": "Verona"})

    decision = verdict(found)

    assert decision.verdict == "refuse"
    assert decision.existing is not None
    assert decision.existing.fields == ("Address.City", "Address.State", "Address.ZIP", "Name")
    assert decision.existing.visible
    assert not decision.existing.foreign


@pytest.mark.parametrize("flag", ["ours", "adopt_existing"])
def test_this_tools_own_create_or_adopt_existing_overwrites(flag: str) -> None:
    found = shown(PLANNED, Name="Verona Clinic (hand-made)")
    assert verdict(found, **{flag: True}).verdict == "overwrite"


@pytest.mark.parametrize("flags", [{}, {"ours": True}, {"adopt_existing": True}])
def test_managing_org_refuses_another_organizations_record_whatever_the_flags(
    flags: dict[str, bool],
) -> None:
    for found in (shown(PLANNED, ManagingOrg="Other Vendor"), shown(PLANNED, Name="Other")):
        found["ManagingOrg"] = "Other Vendor"
        decision = verdict(found, managing_org=OURS, **flags)
        assert decision.verdict == "refuse", (found, flags)
        assert decision.existing is not None
        assert decision.existing.foreign
        assert decision.existing.managed_by == "Other Vendor"


def test_managing_org_lets_its_own_records_through() -> None:
    assert verdict(shown(PLANNED), managing_org=OURS).verdict == "adopt"
    changed = shown(PLANNED, Name="Renamed")
    assert verdict(changed, managing_org=OURS, adopt_existing=True).verdict == "overwrite"


def test_a_record_whose_manager_is_not_shown_is_not_ours_under_managing_org() -> None:
    found = shown(PLANNED)
    del found["ManagingOrg"]
    decision = verdict(found, managing_org=OURS, adopt_existing=True)
    assert decision.verdict == "refuse"
    assert decision.existing is not None
    assert decision.existing.foreign
    assert decision.existing.managed_by is None


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ({}, "refuse"),
        ({"ours": True}, "overwrite"),  # a lost reply: the change is not visible yet
        ({"adopt_existing": True}, "overwrite"),
        ({"adopt_existing": True, "managing_org": OURS}, "refuse"),  # whose it is: unseen
        ({"ours": True, "managing_org": OURS}, "overwrite"),  # this tool made it
    ],
)
def test_a_record_redox_holds_but_a_query_does_not_show(
    flags: dict[str, Any], expected: str
) -> None:
    decision = verdict(None, **flags)
    assert decision.verdict == expected
    if expected == "refuse":
        assert decision.existing is not None
        assert not decision.existing.visible


def test_a_kind_whose_answers_name_no_manager_is_never_foreign() -> None:
    provider = {"Identifiers": [{"ID": "1245319599", "IDType": "NPI"}], "IsActive": True}
    decision = decide(
        PROVIDERS, dict(provider), provider, ours=False, adopt_existing=False, managing_org=OURS
    )
    assert decision.verdict == "adopt"

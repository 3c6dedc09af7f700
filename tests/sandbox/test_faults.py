"""The directory's faults (SPEC 4): a change visible to queries only after a delay, a change
answered 200 and never stored, one stored otherwise than sent; and Meta.Logs on every answer."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from reconciler.redox.api import (
    DEVELOPMENT_ORGANIZATION_DESTINATION,
    MANAGING_ORG,
    SANDBOX_PROVIDER_DESTINATION,
)
from reconciler.sandbox.app import Sandbox
from reconciler.sandbox.faults import Faults

OID = "2.16.840.1.113883.3.6147.458.24601.1.5"
NPI = "1245319599"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def org(name: str = "Northwind Verona Clinic") -> dict[str, Any]:
    return {
        "Name": name,
        "Active": True,
        "Identifiers": [{"ID": OID, "IDType": "OID"}],
        "Type": {"Value": "Connection"},
        "PartOf": {"Identifier": {"Value": "2.16.840.1.113883.3.6147.458.2"}},
    }


def body(event: str, **fields: Any) -> dict[str, Any]:
    meta = {
        "DataModel": "Organization",
        "EventType": event,
        "Destinations": [{"ID": DEVELOPMENT_ORGANIZATION_DESTINATION}],
    }
    return {"Meta": meta, "Directory": "Carequality", **fields}


def write(event: str, record: dict[str, Any]) -> dict[str, Any]:
    return body(event, Action="Create" if event == "New" else "Update", Organizations=[record])


QUERY = body("Query", Identifier={"ID": OID, "IDType": "OID"})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def post(sandbox: Sandbox, payload: dict[str, Any]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=sandbox)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            return await http.post("/endpoint", json=payload)

    return asyncio.run(go())


def shown(sandbox: Sandbox) -> list[dict[str, Any]]:
    answer = post(sandbox, QUERY)
    assert answer.status_code == 200
    found: list[dict[str, Any]] = answer.json()["Organizations"]
    return found


def test_a_change_shows_in_queries_only_after_the_visibility_delay() -> None:
    clock = Clock()
    sandbox = Sandbox(faults=Faults(visibility_delay=2), clock=clock)

    assert post(sandbox, write("New", org())).status_code == 200
    assert shown(sandbox) == []  # created, not visible yet
    # The write side knows at once: a second New is "already exists".
    assert post(sandbox, write("New", org())).status_code == 403
    clock.now += 2
    assert [r["Name"] for r in shown(sandbox)] == ["Northwind Verona Clinic"]

    assert post(sandbox, write("Update", org("Renamed"))).status_code == 200
    clock.now += 1
    assert post(sandbox, write("Update", org("Renamed again"))).status_code == 200
    clock.now += 1.5  # the first update is due, but the second hides it until it shows too
    assert [r["Name"] for r in shown(sandbox)] == ["Northwind Verona Clinic"]
    clock.now += 0.5
    assert [r["Name"] for r in shown(sandbox)] == ["Renamed again"]
    assert sandbox.organizations()[OID]["Name"] == "Renamed again"


def test_another_clients_change_is_visible_at_once() -> None:
    clock = Clock()
    sandbox = Sandbox(faults=Faults(visibility_delay=60), clock=clock)
    post(sandbox, write("New", org()))
    sandbox.put_organization(org("Put by hand"))
    assert [r["Name"] for r in shown(sandbox)] == ["Put by hand"]


def test_a_never_visible_write_is_answered_200_and_never_stored() -> None:
    sandbox = Sandbox(faults=Faults(never_visible=frozenset({OID})))

    answer = post(sandbox, write("New", org()))

    assert answer.status_code == 200
    assert "Errors" not in answer.json()["Meta"]
    assert shown(sandbox) == []
    assert sandbox.organizations() == {}
    assert sandbox.creations() == {}


def test_a_write_stored_differently_has_its_name_in_capitals() -> None:
    sandbox = Sandbox(faults=Faults(store_differently=frozenset({OID})))
    assert post(sandbox, write("New", org())).status_code == 200
    assert [r["Name"] for r in shown(sandbox)] == ["NORTHWIND VERONA CLINIC"]

    provider_sandbox = Sandbox(faults=Faults(store_differently=frozenset({NPI})))
    record = {
        "Identifiers": [{"ID": NPI, "IDType": "NPI"}],
        "IsActive": True,
        "Demographics": {"FirstName": "Dana", "LastName": "Okafor"},
    }
    meta = {
        "DataModel": "Provider",
        "EventType": "New",
        "Destinations": [{"ID": SANDBOX_PROVIDER_DESTINATION}],
    }
    assert post(provider_sandbox, {"Meta": meta, "Providers": [record]}).status_code == 200
    assert provider_sandbox.providers()[NPI]["Demographics"]["LastName"] == "OKAFOR"


def test_every_answer_carries_meta_logs_and_the_request_log_keeps_the_id() -> None:
    sandbox = Sandbox()
    answers = [
        post(sandbox, write("New", org())),  # 200
        post(sandbox, write("New", org())),  # 403 already exists
        post(sandbox, QUERY),  # 200 QueryResponse
        post(sandbox, {"Meta": {}}),  # 400
    ]
    ids = []
    for answer in answers:
        logs = answer.json()["Meta"]["Logs"]
        assert len(logs) == 1
        assert UUID.match(logs[0]["ID"])
        assert UUID.match(logs[0]["AttemptID"])
        ids.append(logs[0]["ID"])
    assert len(set(ids)) == len(ids)
    assert [r["log_id"] for r in sandbox.requests] == ids


def test_a_query_shows_who_manages_each_record() -> None:
    sandbox = Sandbox()
    post(sandbox, write("New", org()))
    assert [r["ManagingOrg"] for r in shown(sandbox)] == [MANAGING_ORG]
    sandbox.put_organization({**org("Registered by another vendor"), "ManagingOrg": "Other"})
    assert [r["ManagingOrg"] for r in shown(sandbox)] == ["Other"]
    # Kept apart from the record: an Update changes the record, not who manages it.
    assert "ManagingOrg" not in sandbox.organizations()[OID]
    post(sandbox, write("Update", org("Updated")))
    assert [(r["Name"], r["ManagingOrg"]) for r in shown(sandbox)] == [("Updated", "Other")]

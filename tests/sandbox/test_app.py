"""The sandbox ASGI app in-process: Redox's rules, texts, faults, journal and request log."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from factories import NPI, OMIT, SUPPORT_CONTACT, organization_payload, provider_payload
from redox_schemas import assert_valid_bodies, schema_errors
from virtual_time import VirtualTime

from reconciler.errors import RedoxError
from reconciler.redox.api import (
    DEVELOPMENT_ORGANIZATION_DESTINATION,
    NO_SUBSCRIPTION,
    PARSE_FAILED,
    PRODUCTION_ORGANIZATION_DESTINATION,
    PUBLIC_KEY_NOT_FOUND,
    SANDBOX_PROVIDER_DESTINATION,
)
from reconciler.redox.client import Credentials, RedoxClient
from reconciler.sandbox.app import Faults, Sandbox

BASE_OID = "2.16.840.1.113883.3.6147.458.12345"


# -- factories ------------------------------------------------------------------------------


# The organization these tests send: organization_payload with the aliases and street address
# of Redox's example, no endpoints, a null destination and one contact.
ADDRESS = {"StreetAddress": "2020 Eastwood Dr", "City": "Madison", "State": "WI"}
org = functools.partial(
    organization_payload,
    Aliases=["My Company, LLC"],
    Address=ADDRESS,
    Endpoints=[],
    DestinationID=None,
    Contacts=[SUPPORT_CONTACT],
)


def org_body(
    event: str, record: dict[str, Any], *, destination: str = DEVELOPMENT_ORGANIZATION_DESTINATION
) -> dict[str, Any]:
    return {
        "Meta": {
            "DataModel": "Organization",
            "EventType": event,
            "Destinations": [{"ID": destination}],
        },
        "Directory": "Carequality",
        "Action": "Create" if event == "New" else "Update",
        "Organizations": [record],
    }


def query_body(**fields: Any) -> dict[str, Any]:
    return {
        "Meta": {
            "DataModel": "Organization",
            "EventType": "Query",
            "Destinations": [{"ID": DEVELOPMENT_ORGANIZATION_DESTINATION}],
        },
        "Directory": "Carequality",
        **fields,
    }


def provider_body(event: str, record: dict[str, Any]) -> dict[str, Any]:
    if event in ("Deactivate", "Activate"):
        record = {"Identifiers": record["Identifiers"]}
    return {
        "Meta": {
            "DataModel": "Provider",
            "EventType": event,
            "Destinations": [{"ID": SANDBOX_PROVIDER_DESTINATION}],
        },
        "Providers": [record],
    }


class Session:
    """A RedoxClient on the in-process sandbox; records every body sent, for schema checks."""

    def __init__(self, sandbox: Sandbox, **options: Any) -> None:
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=sandbox), base_url="http://sandbox"
        )
        self.raw = http
        self.client = RedoxClient(base_url="http://sandbox", http=http, credentials=None, **options)
        self.sent: list[dict[str, Any]] = []

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        self.sent.append(body)
        return await self.client.send(body)

    async def post(self, body: Any) -> httpx.Response:
        if isinstance(body, dict):
            self.sent.append(body)
        return await self.raw.post("/endpoint", json=body)


def run(
    sandbox: Sandbox,
    scenario: Callable[[Session], Awaitable[Any]],
    **options: Any,
) -> Any:
    async def main() -> Any:
        session = Session(sandbox, **options)
        try:
            return await scenario(session)
        finally:
            await session.client.aclose()
            assert_valid_bodies(session.sent)

    return asyncio.run(main())


async def no_sleep(delay: float) -> None:
    await asyncio.sleep(0)


def errors_of(response: httpx.Response) -> list[str]:
    return [e["Text"] for e in response.json()["Meta"].get("Errors", [])]


# -- Organization ---------------------------------------------------------------------------


def test_create_then_second_create_already_exists() -> None:
    sandbox = Sandbox()
    oid = f"{BASE_OID}.1"

    async def scenario(s: Session) -> None:
        reply = await s.send(org_body("New", org(oid)))
        assert reply["Meta"]["Extensions"]["ResponseDetail"]["string"] == (
            "New organization was added successfully."
        )
        second = await s.post(org_body("New", org(oid, name="Other")))
        assert second.status_code == 403
        assert errors_of(second) == [f"{oid} already exists."]
        error = second.json()["Meta"]["Errors"][0]
        assert error["Type"] == "request"
        assert error["Module"] == "Request"
        assert isinstance(error["ID"], int)
        with pytest.raises(RedoxError, match=f"{oid} already exists"):
            await s.send(org_body("New", org(oid)))

    run(sandbox, scenario)
    assert sandbox.creations() == {oid: 1}
    assert sandbox.organizations()[oid]["Name"] == "My Company Facility"


def test_update_replaces_the_record_and_unknown_oid_is_not_valid() -> None:
    sandbox = Sandbox()
    oid, unknown = f"{BASE_OID}.1", f"{BASE_OID}.404"

    async def scenario(s: Session) -> None:
        await s.send(org_body("New", org(oid)))
        changed = org(oid, name="Renamed")
        del changed["Aliases"]
        reply = await s.send(org_body("Update", changed))
        assert reply["Meta"]["Extensions"]["ResponseDetail"]["string"] == (
            f"Organization with id:{oid} has been updated successfully."
        )
        missing = await s.post(org_body("Update", org(unknown)))
        assert missing.status_code == 403
        assert errors_of(missing) == [f"id: {unknown} is not valid."]
        no_action = org_body("Update", org(oid))
        no_action["Action"] = "Create"
        assert (await s.raw.post("/endpoint", json=no_action)).status_code == 400

    run(sandbox, scenario)
    stored = sandbox.organizations()
    assert set(stored) == {oid}
    assert stored[oid]["Name"] == "Renamed"
    assert "Aliases" not in stored[oid]


def test_wrong_destination_is_refused_with_redox_text() -> None:
    sandbox = Sandbox()

    async def scenario(s: Session) -> None:
        for destination in ("00000000-0000-4000-8000-000000000000", SANDBOX_PROVIDER_DESTINATION):
            reply = await s.post(org_body("New", org(f"{BASE_OID}.1"), destination=destination))
            assert reply.status_code == 403
            assert errors_of(reply) == [NO_SUBSCRIPTION]
        wrong_model = provider_body("New", provider_payload())
        wrong_model["Meta"]["Destinations"] = [{"ID": DEVELOPMENT_ORGANIZATION_DESTINATION}]
        assert errors_of(await s.post(wrong_model)) == [NO_SUBSCRIPTION]
        production = await s.post(
            org_body("New", org(f"{BASE_OID}.2"), destination=PRODUCTION_ORGANIZATION_DESTINATION)
        )
        assert production.status_code == 200

    run(sandbox, scenario)
    assert set(sandbox.organizations()) == {f"{BASE_OID}.2"}


def test_incomplete_records_fail_to_parse() -> None:
    sandbox = Sandbox()
    no_oid = org(f"{BASE_OID}.1")
    no_oid["Identifiers"] = [{"ID": "0000000001", "IDType": "FACID"}]
    no_type = org(f"{BASE_OID}.2")
    del no_type["Type"]
    endpoint_without_name = org(f"{BASE_OID}.5")
    endpoint_without_name["Endpoints"] = [{"Address": "https://example.com/xcpd"}]
    refused = [
        no_oid,
        no_type,
        org(f"{BASE_OID}.3", type="Hospital"),
        org(f"{BASE_OID}.4", Contacts=OMIT),
        endpoint_without_name,
    ]

    async def scenario(s: Session) -> None:
        for record in refused:
            reply = await s.post(org_body("New", record))
            assert reply.status_code == 403
            assert errors_of(reply) == [PARSE_FAILED]
        connection = await s.post(
            org_body("New", org(f"{BASE_OID}.6", type="Connection", Contacts=OMIT))
        )
        assert connection.status_code == 200

    run(sandbox, scenario)
    assert set(sandbox.organizations()) == {f"{BASE_OID}.6"}


def test_nothing_is_ever_deleted() -> None:
    sandbox = Sandbox()
    oid = f"{BASE_OID}.1"

    async def scenario(s: Session) -> None:
        await s.send(org_body("New", org(oid)))
        delete_action = org_body("Update", org(oid))
        delete_action["Action"] = "Delete"
        delete_event = org_body("New", org(oid))
        delete_event["Meta"]["EventType"] = "Delete"
        for body in (delete_action, delete_event):
            reply = await s.raw.post("/endpoint", json=body)
            assert reply.status_code in (400, 403)
            assert "deactivate" in errors_of(reply)[0]

    run(sandbox, scenario)
    assert set(sandbox.organizations()) == {oid}


def test_query_by_oid_name_state_with_paging() -> None:
    sandbox = Sandbox()
    states = ["WI", "MN", "IL"]

    async def scenario(s: Session) -> None:
        for i in range(45):
            record = org(
                f"{BASE_OID}.{i}",
                name=f"Facility {i}",
                Address={**ADDRESS, "State": states[i % 3]},
            )
            record["Endpoints"] = [{"Name": "Patient Discovery", "Address": "https://x/xcpd"}]
            record["DestinationID"] = "5e3dc12b-3a04-438e-880d-a690639e629e"
            await s.send(org_body("New", record))
        one = await s.client.query_organizations(
            directory="Carequality",
            destination=DEVELOPMENT_ORGANIZATION_DESTINATION,
            oid=f"{BASE_OID}.7",
        )
        assert [r["Name"] for r in one] == ["Facility 7"]
        assert one[0]["ManagingOrg"]
        assert "Endpoints" not in one[0]
        assert "DestinationID" not in one[0]
        by_name = await s.client.query_organizations(
            directory="Carequality",
            destination=DEVELOPMENT_ORGANIZATION_DESTINATION,
            name="FACILITY 1",
        )
        assert sorted(r["Name"] for r in by_name) == sorted(
            ["Facility 1", *(f"Facility {i}" for i in range(10, 20))]
        )
        by_state = await s.client.query_organizations(
            directory="Carequality",
            destination=DEVELOPMENT_ORGANIZATION_DESTINATION,
            state="MN",
            page_size=4,
        )
        assert len(by_state) == 15
        assert {r["Address"]["State"] for r in by_state} == {"MN"}
        everything = await s.client.query_organizations(
            directory="Carequality",
            destination=DEVELOPMENT_ORGANIZATION_DESTINATION,
            page_size=20,
        )
        oids = [r["Identifiers"][0]["ID"] for r in everything]
        assert oids == sorted(f"{BASE_OID}.{i}" for i in range(45))
        # A raw page: the reply itself validates against organization/queryresponse.json.
        page = await s.send(query_body(Index="40", Limit="20"))
        assert page["Meta"]["EventType"] == "QueryResponse"
        assert page["Paging"] == {"Count": 45, "Index": 40}
        assert len(page["Organizations"]) == 5
        assert schema_errors(page) == []
        inactive = await s.send(query_body(Active=False))
        assert inactive["Organizations"] == []
        assert schema_errors(inactive) == []

    run(sandbox, scenario, rate_limit=1e6)
    queries = [r for r in sandbox.requests if r["event_type"] == "Query"]
    paged = [r["body"]["Index"] for r in queries if r["body"].get("Limit") == "20"][:3]
    assert paged == ["0", "20", "40"]


def test_put_organization_changes_the_directory_behind_the_tools_back() -> None:
    sandbox = Sandbox()
    oid = f"{BASE_OID}.1"

    async def scenario(s: Session) -> None:
        await s.send(org_body("New", org(oid)))
        sandbox.put_organization(org(oid, name="Changed elsewhere"))
        found = await s.client.query_organizations(
            directory="Carequality",
            destination=DEVELOPMENT_ORGANIZATION_DESTINATION,
            oid=oid,
        )
        assert found[0]["Name"] == "Changed elsewhere"
        hook = await s.raw.put("/_sandbox/organizations", json=org(f"{BASE_OID}.2"))
        assert hook.status_code == 200
        listed = (await s.raw.get("/_sandbox/organizations")).json()
        assert set(listed) == {oid, f"{BASE_OID}.2"}
        assert (await s.raw.get("/_sandbox/creations")).json() == {oid: 1}

    run(sandbox, scenario)
    assert sandbox.creations() == {oid: 1}


# -- Provider -------------------------------------------------------------------------------


def test_provider_lifecycle() -> None:
    sandbox = Sandbox()

    async def scenario(s: Session) -> None:
        await s.send(provider_body("New", provider_payload()))
        again = await s.post(provider_body("New", provider_payload()))
        assert again.status_code == 403
        assert errors_of(again) == [f"{NPI} already exists."]
        await s.send(provider_body("Update", provider_payload(first_name="Patricia")))
        unknown = await s.post(provider_body("Update", provider_payload("1234567893")))
        assert unknown.status_code == 403
        assert errors_of(unknown) == ["id: 1234567893 is not valid."]
        await s.send(provider_body("Deactivate", provider_payload()))
        assert sandbox.providers()[NPI]["IsActive"] is False
        assert sandbox.providers()[NPI]["Demographics"]["FirstName"] == "Patricia"
        found = await s.client.query_providers(
            destination=SANDBOX_PROVIDER_DESTINATION,
            identifier={"ID": NPI, "IDType": "NPI"},
        )
        assert [p["IsActive"] for p in found] == [False]
        await s.send(provider_body("Activate", provider_payload()))
        assert sandbox.providers()[NPI]["IsActive"] is True
        none = await s.client.query_providers(
            destination=SANDBOX_PROVIDER_DESTINATION,
            identifier={"ID": "1234567893", "IDType": "NPI"},
        )
        assert none == []
        deactivate_unknown = await s.post(
            provider_body("Deactivate", provider_payload("1234567893"))
        )
        assert errors_of(deactivate_unknown) == ["id: 1234567893 is not valid."]

    run(sandbox, scenario)
    assert sandbox.creations() == {NPI: 1}
    identities = [r["identity"] for r in sandbox.requests if r["data_model"] == "Provider"]
    assert identities[0] == NPI


def test_provider_identity_is_the_first_identifier_without_npi() -> None:
    sandbox = Sandbox()
    record = provider_payload()
    record["Identifiers"] = [{"ID": "emp-1", "IDType": "EMPID"}, {"ID": "x-2", "IDType": "X"}]
    run(sandbox, lambda s: s.send(provider_body("New", record)))
    assert set(sandbox.providers()) == {"emp-1"}


# -- HTTP surface ---------------------------------------------------------------------------


def test_unknown_path_wrong_method_and_invalid_json() -> None:
    sandbox = Sandbox()

    async def scenario(s: Session) -> None:
        assert (await s.raw.post("/nowhere", json={})).status_code == 404
        wrong = await s.raw.get("/endpoint")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "POST"
        invalid = await s.raw.post(
            "/endpoint", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert invalid.status_code == 400
        assert errors_of(invalid)

    run(sandbox, scenario)


def test_lifespan_is_answered() -> None:
    sandbox = Sandbox()
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(sandbox({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


# -- auth -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _assertion(key: ec.EllipticCurvePrivateKey, *, kid: str | None = "kid-1", **claims: Any) -> str:
    now = int(time.time())
    payload = {
        "iss": "client-1",
        "sub": "client-1",
        "aud": "http://sandbox/v2/auth/token",
        "iat": now,
        "exp": now + 300,
        "jti": f"jti-{time.perf_counter_ns()}",
    } | claims
    headers = {"kid": kid} if kid else {}
    return jwt.encode(payload, key, algorithm="ES384", headers=headers)


def test_token_endpoint_refusals(client_key: ec.EllipticCurvePrivateKey) -> None:
    sandbox = Sandbox(
        require_auth=True, trusted_keys={("client-1", "kid-1"): _public_pem(client_key)}
    )
    stranger = ec.generate_private_key(ec.SECP384R1())
    base = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    }
    cases = [
        (base | {"client_assertion": _assertion(client_key)}, "json", "x-www-form-urlencoded"),
        ({"client_assertion": _assertion(client_key)}, "form", "Missing grant_type parameter"),
        (base | {"grant_type": "password"}, "form", "should equal 'client_credentials'"),
        (base, "form", "Missing client assertion"),
        (base | {"client_assertion": _assertion(client_key, kid=None)}, "form", "kid property"),
        (
            base | {"client_assertion": _assertion(client_key, kid="other")},
            "form",
            PUBLIC_KEY_NOT_FOUND,
        ),
        (
            base | {"client_assertion": _assertion(client_key, iss="client-2")},
            "form",
            PUBLIC_KEY_NOT_FOUND,
        ),
        (base | {"client_assertion": _assertion(stranger)}, "form", "Invalid client assertion"),
        (
            base | {"client_assertion": _assertion(client_key, exp=int(time.time()) - 120)},
            "form",
            "Invalid client assertion",
        ),
    ]

    async def scenario(s: Session) -> None:
        for form, encoding, text in cases:
            if encoding == "json":
                reply = await s.raw.post("/v2/auth/token", json=form)
            else:
                reply = await s.raw.post("/v2/auth/token", data=form)
            assert reply.status_code in (400, 401), text
            assert text in reply.json()["error_description"]
        good = await s.raw.post(
            "/v2/auth/token", data=base | {"client_assertion": _assertion(client_key)}
        )
        assert good.status_code == 200
        assert good.json()["token_type"] == "Bearer"
        assert good.json()["expires_in"] == 300
        anonymous = await s.raw.post("/endpoint", json=query_body())
        assert anonymous.status_code == 401
        assert errors_of(anonymous)
        token = good.json()["access_token"]
        authorized = await s.raw.post(
            "/endpoint", json=query_body(), headers={"Authorization": f"Bearer {token}"}
        )
        assert authorized.status_code == 200

    run(sandbox, scenario)
    assert all(r["body"] is None for r in sandbox.requests if r["path"] == "/v2/auth/token")


def test_tokens_expire_and_the_client_refreshes(client_key: ec.EllipticCurvePrivateKey) -> None:
    now = [0.0]
    sandbox = Sandbox(
        require_auth=True,
        trusted_keys={("client-1", "kid-1"): _public_pem(client_key)},
        faults=Faults(token_lifetime=1),
        clock=lambda: now[0],
    )
    credentials = Credentials(client_id="client-1", key_id="kid-1", private_key=_pem(client_key))

    async def scenario(s: Session) -> None:
        await s.send(query_body())
        now[0] += 2  # the sandbox's clock: the token has expired
        await s.send(query_body())

    async def main() -> None:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox))
        session = Session(sandbox)
        session.client = RedoxClient(
            base_url="http://sandbox",
            http=http,
            credentials=credentials,
            clock=lambda: 0.0,  # the client's clock: it believes the token is still fresh
        )
        try:
            await scenario(session)
        finally:
            await session.client.aclose()
            await session.raw.aclose()
        assert_valid_bodies(session.sent)

    asyncio.run(main())
    outcomes = [(r["path"], r["status"]) for r in sandbox.requests]
    assert outcomes == [
        ("/v2/auth/token", 200),
        ("/endpoint", 200),
        ("/endpoint", 401),
        ("/v2/auth/token", 200),
        ("/endpoint", 200),
    ]
    logged = json.dumps(sandbox.requests)
    assert "access_token" not in logged
    assert "client_assertion" not in logged


# -- faults ---------------------------------------------------------------------------------


def test_error_rate_one_answers_502_or_503_and_changes_nothing() -> None:
    sandbox = Sandbox(faults=Faults(error_rate=1.0, seed=7))

    async def scenario(s: Session) -> None:
        with pytest.raises(RedoxError) as caught:
            await s.send(org_body("New", org(f"{BASE_OID}.1")))
        assert caught.value.retryable

    run(sandbox, scenario, max_attempts=4, sleep=no_sleep)
    assert [r["status"] in (502, 503) for r in sandbox.requests] == [True] * 4
    assert sandbox.organizations() == {}


def test_rate_limit_answers_429_with_retry_after() -> None:
    now = [0.0]
    sandbox = Sandbox(faults=Faults(rate_limit=2, retry_after=3), clock=lambda: now[0])

    async def scenario(s: Session) -> None:
        statuses = [(await s.raw.post("/endpoint", json=query_body())) for _ in range(3)]
        s.sent.extend([query_body()] * 3)
        assert [r.status_code for r in statuses] == [200, 200, 429]
        limited = statuses[2]
        assert limited.headers["retry-after"] == "3"
        assert limited.headers["x-ratelimit-limit"] == "2"
        assert errors_of(limited)
        now[0] += 1.5
        assert (await s.raw.post("/endpoint", json=query_body())).status_code == 200

    run(sandbox, scenario)
    assert [r["outcome"] for r in sandbox.requests] == ["ok", "ok", "rate_limited", "ok"]


def test_client_at_the_servers_rate_sees_no_429() -> None:
    vt = VirtualTime()
    sandbox = Sandbox(faults=Faults(rate_limit=10, retry_after=1), clock=vt.clock)
    session = Session(sandbox, rate_limit=10, concurrency=8, sleep=vt.sleep, clock=vt.clock)

    async def main() -> None:
        bodies = [query_body() for _ in range(40)]
        session.sent.extend(bodies)
        try:
            await asyncio.gather(*(session.client.send(b) for b in bodies))
        finally:
            await session.client.aclose()

    vt.run(main())
    assert_valid_bodies(session.sent)
    assert len(sandbox.requests) == 40
    assert {r["status"] for r in sandbox.requests} == {200}


def test_client_honours_the_sandboxs_retry_after() -> None:
    vt = VirtualTime()
    sandbox = Sandbox(faults=Faults(rate_limit=2, retry_after=5), clock=vt.clock)
    # The client believes it may go faster than the server allows.
    session = Session(sandbox, rate_limit=100, concurrency=1, sleep=vt.sleep, clock=vt.clock)

    async def main() -> None:
        bodies = [query_body() for _ in range(4)]
        session.sent.extend(bodies)
        try:
            for body in bodies:
                await session.client.send(body)
        finally:
            await session.client.aclose()

    vt.run(main())
    assert_valid_bodies(session.sent)
    statuses = [r["status"] for r in sandbox.requests]
    assert statuses.count(200) == 4
    assert 429 in statuses
    assert any(delay >= 5 for delay in vt.sleeps)


def test_lost_reply_commits_then_answers_504() -> None:
    sandbox = Sandbox(faults=Faults(lose_reply_rate=1.0, seed=1))
    oid = f"{BASE_OID}.1"

    async def scenario(s: Session) -> None:
        lost = await s.post(org_body("New", org(oid)))
        assert lost.status_code == 504
        assert errors_of(lost) == ["Gateway timeout"]
        assert oid in sandbox.organizations()
        # The client retries the 504; the retry meets the record the lost reply created.
        with pytest.raises(RedoxError, match="already exists"):
            await s.send(org_body("New", org(oid)))

    run(sandbox, scenario, sleep=no_sleep)
    assert sandbox.creations() == {oid: 1}
    assert [r["outcome"] for r in sandbox.requests] == ["reply_lost", "refused"]


def test_latency_delays_the_reply() -> None:
    sandbox = Sandbox(faults=Faults(latency=0.05))

    async def scenario(s: Session) -> float:
        start = time.monotonic()
        await s.send(query_body())
        return time.monotonic() - start

    elapsed = run(sandbox, scenario)
    assert elapsed >= 0.04  # a lower bound only: latency is added, never guaranteed short


def test_set_faults_takes_effect() -> None:
    sandbox = Sandbox()

    async def scenario(s: Session) -> None:
        assert (await s.post(query_body())).status_code == 200
        sandbox.set_faults(Faults(error_rate=1.0))
        assert (await s.post(query_body())).status_code in (502, 503)
        sandbox.set_faults(Faults())
        assert (await s.post(query_body())).status_code == 200

    run(sandbox, scenario)


# -- persistence and the request log --------------------------------------------------------


def test_journal_survives_a_restart_and_ignores_a_torn_line(tmp_path: Path) -> None:
    first = Sandbox(data_dir=tmp_path)

    async def populate(s: Session) -> None:
        for i in range(3):
            await s.send(org_body("New", org(f"{BASE_OID}.{i}")))
        await s.send(org_body("Update", org(f"{BASE_OID}.1", name="Updated")))
        await s.send(provider_body("New", provider_payload()))
        await s.send(provider_body("Deactivate", provider_payload()))

    run(first, populate)
    second = Sandbox(data_dir=tmp_path)
    assert second.organizations() == first.organizations()
    assert second.providers() == first.providers()
    assert second.creations() == first.creations()
    assert second.organizations()[f"{BASE_OID}.1"]["Name"] == "Updated"
    assert second.providers()[NPI]["IsActive"] is False

    journal = tmp_path / "directory.jsonl"
    with journal.open("a", encoding="utf-8") as handle:
        handle.write('{"kind": "organization.create", "identity": "2.16.8')  # a crash mid-write
    third = Sandbox(data_dir=tmp_path)
    assert third.organizations() == first.organizations()
    run(third, lambda s: s.send(org_body("New", org(f"{BASE_OID}.9"))))
    fourth = Sandbox(data_dir=tmp_path)
    assert set(fourth.organizations()) == {f"{BASE_OID}.{i}" for i in (0, 1, 2, 9)}
    assert all(json.loads(line) for line in journal.read_text().splitlines())


def test_request_log_in_memory_and_on_disk(tmp_path: Path) -> None:
    sandbox = Sandbox(data_dir=tmp_path)
    oid = f"{BASE_OID}.1"

    async def scenario(s: Session) -> None:
        await s.send(org_body("New", org(oid)))
        await s.post(org_body("New", org(oid)))
        await s.send(query_body(Identifier={"ID": oid, "IDType": "OID"}))
        await s.send(provider_body("New", provider_payload()))

    run(sandbox, scenario)
    log = sandbox.requests
    assert [(r["data_model"], r["event_type"], r["status"], r["outcome"]) for r in log] == [
        ("Organization", "New", 200, "ok"),
        ("Organization", "New", 403, "refused"),
        ("Organization", "Query", 200, "ok"),
        ("Provider", "New", 200, "ok"),
    ]
    assert [r["oid"] for r in log[:3]] == [oid, oid, oid]
    assert log[3]["identity"] == NPI
    assert log[1]["error"] == f"{oid} already exists."
    assert log[0]["body"]["Organizations"][0]["Identifiers"][0]["ID"] == oid
    assert all(r["path"] == "/endpoint" and isinstance(r["time"], float) for r in log)
    on_disk = [json.loads(line) for line in (tmp_path / "requests.jsonl").read_text().splitlines()]
    assert on_disk == log

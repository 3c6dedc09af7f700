"""The read-back after an apply (engine/verify.py) against the in-process sandbox in virtual
time: a change seen at once, one that shows within the timeout, one that never shows, one
stored otherwise than sent, and a query that fails."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from factories import facility_payload
from virtual_time import VirtualTime

from reconciler.engine.result import Unverified
from reconciler.engine.verify import read_back
from reconciler.errors import RedoxError
from reconciler.kinds import kind_of
from reconciler.ledger.model import Entry, make_entry
from reconciler.model import Action, Environment, Key, make_key
from reconciler.redox.api import DEVELOPMENT_ORGANIZATION_DESTINATION
from reconciler.redox.client import RedoxClient
from reconciler.sandbox.app import Sandbox
from reconciler.sandbox.faults import Faults
from reconciler.views.drift import Finding

ORGS = kind_of("organization")
ENV = Environment(
    name="development",
    ledger="ledger/development.json",
    destinations={"organization": DEVELOPMENT_ORGANIZATION_DESTINATION},
)
BASE = "2.16.840.1.113883.3.6147.458.24601.1"


def entry(oid: str, name: str) -> Entry:
    return make_entry(
        kind="organization",
        identity=oid,
        envelope={"Directory": "Carequality"},
        # A Connection needs no contact (an Implementer does).
        payload={**facility_payload(oid, name), "Type": {"Value": "Connection"}},
        active=True,
        source=None,
        commit=None,
    )


def read_back_after_writing(
    faults: Faults, entries: dict[Key, Entry], *, timeout: float
) -> tuple[dict[Key, Unverified | None], float, Sandbox, list[Key]]:
    """Create each entry's record through a client of a sandbox with `faults`, then read them
    all back; the outcome, the (virtual) seconds the read-back took, the sandbox and the keys
    in the order settled."""
    vt = VirtualTime()
    took: list[float] = []
    sandbox = Sandbox(faults=faults, clock=vt.clock)
    settled: list[Key] = []

    async def scenario() -> dict[Key, Unverified | None]:
        transport = httpx.ASGITransport(app=sandbox)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            client = RedoxClient(
                base_url="http://sandbox",
                http=http,
                credentials=None,
                rate_limit=1_000_000,
                sleep=vt.sleep,
                clock=vt.clock,
            )
            for item in entries.values():
                body = ORGS.request(
                    Action.CREATE,
                    item.envelope,
                    item.payload,
                    destination=DEVELOPMENT_ORGANIZATION_DESTINATION,
                )
                await client.send(body)
            started = vt.now
            found = await read_back(
                client,
                entries,
                env=ENV,
                concurrency=4,
                timeout=timeout,
                settled=lambda key, outcome: settled.append(key),
                clock=vt.clock,
                sleep=vt.sleep,
            )
            took.append(vt.now - started)
            return found

    found = vt.run(scenario())
    return found, took[0], sandbox, settled


def queries_about(sandbox: Sandbox, oid: str) -> list[float]:
    return [r["time"] for r in sandbox.requests if r["event_type"] == "Query" and r["oid"] == oid]


def test_a_change_the_directory_shows_at_once_takes_one_query() -> None:
    oid = f"{BASE}.1"
    items = {make_key("organization", oid): entry(oid, "Northwind Verona Clinic")}

    found, took, sandbox, settled = read_back_after_writing(Faults(), items, timeout=5)

    assert found == dict.fromkeys(items)
    assert len(queries_about(sandbox, oid)) == 1
    assert took == pytest.approx(0, abs=0.01)
    assert settled == list(items)


def test_a_change_that_shows_within_the_timeout_is_asked_for_again_with_backoff() -> None:
    oids = [f"{BASE}.{n}" for n in (1, 2, 3)]
    items = {make_key("organization", oid): entry(oid, f"Clinic {oid[-1]}") for oid in oids}

    found, took, sandbox, settled = read_back_after_writing(
        Faults(visibility_delay=2), items, timeout=5
    )

    assert found == dict.fromkeys(items)
    # Asked at 0, 0.5, 1.5 (not shown yet) and 3.5 s (shown): waits of 0.5, 1 and 2 s.
    assert [len(queries_about(sandbox, oid)) for oid in oids] == [4, 4, 4]
    assert took == pytest.approx(3.5, abs=0.01)
    assert sorted(settled) == sorted(items)


def test_a_change_that_never_shows_is_unverified_once_the_timeout_has_passed() -> None:
    seen, lost = f"{BASE}.1", f"{BASE}.2"
    items = {
        make_key("organization", seen): entry(seen, "Shown Clinic"),
        make_key("organization", lost): entry(lost, "Lost Clinic"),
    }

    found, took, sandbox, _ = read_back_after_writing(
        Faults(never_visible=frozenset({lost})), items, timeout=5
    )

    assert found[make_key("organization", seen)] is None
    missing = found[make_key("organization", lost)]
    assert missing is not None
    assert missing.drift is not None
    assert missing.drift.finding == Finding.MISSING
    # 0, 0.5, 1.5, 3.5, then once more at the deadline (5 s), never past it.
    assert len(queries_about(sandbox, lost)) == 5
    assert took == pytest.approx(5, abs=0.01)
    assert len(queries_about(sandbox, seen)) == 1


def test_a_change_stored_otherwise_is_unverified_with_the_fields_that_differ() -> None:
    oid = f"{BASE}.1"
    items = {make_key("organization", oid): entry(oid, "Northwind Verona Clinic")}

    found, _, _, _ = read_back_after_writing(
        Faults(store_differently=frozenset({oid})), items, timeout=1
    )

    different = found[make_key("organization", oid)]
    assert different is not None
    assert different.drift is not None
    assert different.drift.finding == Finding.DIFFERENT
    assert [(f.path, f.before, f.after) for f in different.drift.fields] == [
        ("Name", "Northwind Verona Clinic", "NORTHWIND VERONA CLINIC")
    ]


def test_with_no_timeout_each_record_is_read_once() -> None:
    oid = f"{BASE}.1"
    items = {make_key("organization", oid): entry(oid, "Northwind Verona Clinic")}

    found, took, sandbox, _ = read_back_after_writing(Faults(visibility_delay=2), items, timeout=0)

    assert found[make_key("organization", oid)] is not None
    assert len(queries_about(sandbox, oid)) == 1
    assert took == pytest.approx(0, abs=0.01)


class Failing:
    """A Redox that answers every query with an error."""

    async def send(self, body: dict[str, Any]) -> dict[str, Any]:
        raise RedoxError("Organization.Query failed after 8 attempts; last cause: HTTP 502.")


def test_a_record_that_cannot_be_read_back_is_unverified_with_the_error() -> None:
    oid = f"{BASE}.1"
    key = make_key("organization", oid)
    vt = VirtualTime()

    found = vt.run(
        read_back(
            Failing(),
            {key: entry(oid, "Northwind Verona Clinic")},
            env=ENV,
            concurrency=1,
            clock=vt.clock,
            sleep=vt.sleep,
        )
    )

    unread = found[key]
    assert unread is not None
    assert unread.drift is None
    assert unread.error is not None
    assert "HTTP 502" in unread.error

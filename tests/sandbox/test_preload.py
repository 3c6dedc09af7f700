"""Records the directory holds before the first apply (sandbox/preload.py): the file, its
errors, and what the sandbox makes of it (stored once, as created elsewhere, with the
ManagingOrg a query shows, across restarts)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.errors import ReconcilerError
from reconciler.redox.api import DEVELOPMENT_ORGANIZATION_DESTINATION
from reconciler.sandbox.app import Sandbox
from reconciler.sandbox.preload import Preload, read_preload

OID = "2.16.840.1.113883.3.6147.458.24601.1.5"
NPI = "1245319599"


def org(name: str = "Registered by hand", **extra: Any) -> dict[str, Any]:
    return {
        "Name": name,
        "Active": True,
        "Identifiers": [{"ID": OID, "IDType": "OID"}],
        "Type": {"Value": "Connection"},
        **extra,
    }


PROVIDER = {"Identifiers": [{"ID": NPI, "IDType": "NPI"}], "IsActive": True}


def test_a_preload_file_reads_into_records(tmp_path: Path) -> None:
    path = tmp_path / "preload.json"
    doc = {"organizations": [org(ManagingOrg="Other Vendor")], "providers": [PROVIDER]}
    path.write_text(json.dumps(doc), encoding="utf-8")

    assert read_preload(path) == Preload((org(ManagingOrg="Other Vendor"),), (PROVIDER,))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"organisations": []}', "is invalid at organisations"),
        ('{"organizations": {}}', "is invalid at organizations"),
        ('{"organizations": [{"Name": "x"}]}', "organizations[0], has no identity"),
        ('{"providers": [{"IsActive": true}]}', "providers[0], has no identity"),
    ],
)
def test_a_bad_preload_file_is_one_clear_error_naming_it(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "preload.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ReconcilerError) as caught:
        read_preload(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_preloaded_records_are_stored_once_as_created_elsewhere(tmp_path: Path) -> None:
    records = Preload((org(ManagingOrg="Other Vendor"),), (PROVIDER,))
    first = Sandbox(data_dir=tmp_path, preload=records)
    assert first.organizations() == {OID: org()}
    assert first.providers() == {NPI: PROVIDER}
    assert first.creations() == {}  # no New made them

    first.put_organization(org("Changed since"))
    # A restart with the same preload keeps what the directory holds now, and who manages it.
    again = Sandbox(data_dir=tmp_path, preload=records)
    assert again.organizations()[OID]["Name"] == "Changed since"
    assert managers(again) == {OID: "Other Vendor"}


def managers(sandbox: Sandbox) -> dict[str, str]:
    """OID -> the ManagingOrg an Organization.Query of every record shows."""
    meta = {
        "DataModel": "Organization",
        "EventType": "Query",
        "Destinations": [{"ID": DEVELOPMENT_ORGANIZATION_DESTINATION}],
    }

    async def query() -> httpx.Response:
        transport = httpx.ASGITransport(app=sandbox)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
            return await http.post("/endpoint", json={"Meta": meta, "Directory": "Carequality"})

    found = asyncio.run(query()).json()["Organizations"]
    return {r["Identifiers"][0]["ID"]: r["ManagingOrg"] for r in found}

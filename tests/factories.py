"""Records for tests, built one way: organization payloads in the wire form, plans of them, and
hypothesis strategies of valid organization hierarchies (YAML form)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import BASE_OID, GATEWAY, Repo
from hypothesis import strategies as st

from reconciler.formats import yamltext
from reconciler.formats.jsontext import pack
from reconciler.model import Action
from reconciler.plan import Change, Plan

PARENT = "2.16.840.1.113883.3.6147.458.24601.1"


def org_payload(
    oid: str, name: str, *, active: bool = True, city: str = "Madison"
) -> dict[str, Any]:
    return {
        "Name": name,
        "Active": active,
        "Identifiers": [{"ID": oid, "IDType": "OID"}],
        "Type": {"Value": "Implementer"},
        "PartOf": {"Identifier": {"Value": PARENT}},
        "Address": {"City": city, "State": "WI", "ZIP": "53704"},
    }


def big_create_plan(count: int) -> Plan:
    changes = tuple(
        Change(
            kind="organization",
            identity=f"{PARENT}.{n}",
            action=Action.CREATE,
            envelope={"Directory": "Carequality"},
            before=None,
            packed_after=pack(org_payload(f"{PARENT}.{n}", f"Northwind Facility {n}")),
            source=f"orgs/facility-{n:05d}.yaml",
            depends_on=(f"organization:{PARENT}",),
        )
        for n in range(count)
    )
    return Plan("production", "lineage", 3, "d" * 64, changes)


# Any text a record may hold: no control characters (the name rule) and no surrogates.
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=24)


PLAIN = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABC-0123456789.", min_size=1, max_size=16)


PHONE = st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True)


EMAIL = st.builds(
    "{}@{}.example".format,
    st.from_regex(r"[a-z][a-z0-9+_-]{0,8}(\.[a-z0-9+_-]{1,4})?", fullmatch=True),
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value, or the key left out (None is filtered out by `mapping`)."""
    return st.none() | strategy


def mapping(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A mapping of the fields drawn, without the ones drawn as None (left out)."""
    return st.fixed_dictionaries({k: optional(v) for k, v in fields.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not None}
    )


CONTACT = mapping(
    purpose=st.sampled_from(["Technical", "Administrative"]),
    name=TEXT,
    email_addresses=st.lists(EMAIL, max_size=2),
    phone_number=mapping(home=PHONE, work=PHONE, mobile=PHONE),
)


US_ADDRESS = mapping(
    street_address=TEXT,
    city=TEXT,
    state=st.sampled_from(["WI", "IL", "MN", "PR"]),
    zip=st.from_regex(r"[0-9]{5}(-[0-9]{4})?", fullmatch=True),
    county=TEXT,
).map(lambda d: {**d, "country": "USA"})


OTHER_ADDRESS = mapping(city=TEXT, state=TEXT, zip=PLAIN, country=st.sampled_from(["CA", "DE"]))


IDENTIFIER = st.fixed_dictionaries(
    {"id": st.one_of(PLAIN, st.from_regex(r"0[0-9]{3,9}", fullmatch=True))},
    optional={"id_type": st.sampled_from(["FACID", "NPI", "LOCAL"])},
)


ENDPOINT = mapping(
    address=PLAIN,
    mime_type=st.sampled_from(["text/xml", "application/soap+xml"]),
    connection_type=mapping(system=PLAIN, value=PLAIN),
    attributes=mapping(
        transaction=PLAIN, use_cases=st.lists(mapping(system=PLAIN, value=PLAIN), max_size=2)
    ),
).flatmap(lambda d: TEXT.map(lambda name: {"name": name, **d}))  # Carequality needs a name


TYPE = st.sampled_from(
    [
        "Implementer",
        "Connection",
        {"value": "Connection"},
        {"system": "urn:cq", "value": "Implementer"},
    ]
)


DESTINATION = st.one_of(
    st.just(None),
    PLAIN,
    st.fixed_dictionaries({}, optional={"development": st.none() | PLAIN, "production": PLAIN}),
)


@st.composite
def hierarchies(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1 to 8 valid records: some under the gateway, the rest under earlier records."""
    records: list[dict[str, Any]] = []
    for index in range(draw(st.integers(1, 8))):
        parent = draw(st.sampled_from(records)) if records and draw(st.booleans()) else None
        parent_active = parent is None or parent.get("active", True)
        record: dict[str, Any] = {
            "oid": f"{parent['oid'] if parent else BASE_OID}.{index + 1}",
            "name": draw(TEXT),
            "part_of": parent["oid"] if parent else GATEWAY,
            "type": draw(TYPE),
        }
        active = draw(st.booleans()) if parent_active else False
        if not active or draw(st.booleans()):
            record["active"] = active
        extras = draw(
            mapping(
                aliases=st.lists(TEXT, max_size=3),
                directory=st.sampled_from(["Carequality", "Other"]),
                destination_id=DESTINATION.map(lambda d: ("set", d)),
                identifiers=st.lists(IDENTIFIER, max_size=2),
                contacts=st.lists(CONTACT, max_size=2),
                address=US_ADDRESS | OTHER_ADDRESS,
                endpoints=st.lists(ENDPOINT, max_size=1),
            )
        )
        if "destination_id" in extras:
            extras["destination_id"] = extras["destination_id"][1]
        record.update(extras)
        implementer = record.get("type") in (
            "Implementer",
            {"system": "urn:cq", "value": "Implementer"},
        )
        if implementer and not record.get("contacts"):
            record["contacts"] = [{"name": "Interop"}]
        records.append(record)
    return records


def write(root: Path, records: list[dict[str, Any]]) -> Repo:
    made = Repo(root)
    for index, record in enumerate(records):
        made.org(f"record-{index}", yamltext.dump(record, sort_keys=False, allow_unicode=True))
    return made

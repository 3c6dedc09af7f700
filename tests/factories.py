"""Records for tests, built one way: organizations and providers in their YAML form (what a
file holds) and their wire form (what Redox holds), the repositories they are written to, and
hypothesis strategies of valid ones. A test module keeps only what is its own, built on these
(tests/mistakes.py: its catalog of one-key mistakes, made on complete_organization() and
provider()).

Organizations, YAML form  organization(): a valid record, any key replaced or left out;
                          organization_text(): that record as a file's text, fast to write
                          by the thousand; complete_organization(): every key filled in;
                          strategies: organizations, hierarchies()
Organizations, wire form  organization_payload(): an Organizations[] item;
                          facility_payload(): a Northwind facility as the golden plans show
                          it; big_create_plan()
Providers                 provider() (YAML form), provider_payload() (a Providers[] item,
                          NPI by default); strategy: providers
Repositories              Repo: a repository on disk, written from mappings or text;
                          repository(), example_repository() (the project's example copied),
                          generated_repository(), write_organizations(), write_settings(),
                          settle()
"""

from __future__ import annotations

import copy
import shutil
import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from reconciler import reconcile
from reconciler.formats import yamltext
from reconciler.formats.jsontext import pack
from reconciler.kinds import kind_of
from reconciler.ledger import model as ledgers
from reconciler.model import Action
from reconciler.plan import Change, Plan
from reconciler.reconcile.workspace import Workspace

PROJECT = Path(__file__).resolve().parents[1]
EXAMPLE_ORGS = PROJECT / "orgs"
EXAMPLE_PROVIDERS = PROJECT / "providers"
EXAMPLE_SETTINGS = PROJECT / "reconciler.yaml"

GATEWAY = "2.16.840.1.113883.3.6147.458.2"  # the Redox gateway: the top of every hierarchy
BASE_OID = "2.16.840.1.113883.3.6147.458.777"  # under which organization() numbers its records
PARENT = "2.16.840.1.113883.3.6147.458.24601.1"  # orgs/northwind-health.yaml

OMIT: Any = object()  # organization(name=OMIT) leaves the key out


def dump(data: Any) -> str:
    """YAML text of a mapping, keys in the order given (YAML 1.1 words such as `y` quoted)."""
    return yamltext.dump(data, sort_keys=False, allow_unicode=True)


def _with(data: dict[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """`data` with `fields` replacing or adding keys (copied), and the OMIT ones left out."""
    for key, value in fields.items():
        if value is OMIT:
            data.pop(key, None)
        else:
            data[key] = copy.deepcopy(value)
    return data


# --- organizations, YAML form ------------------------------------------------------------------


def organization(number: int = 1, *, parent: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid organization record (a mapping, as a file holds it): `BASE_OID.number` (or
    `parent.number`) under the gateway (or `parent`), an Implementer with one contact and a US
    address. `fields` replace keys or add them at the end; OMIT leaves one out."""
    data: dict[str, Any] = {
        "oid": f"{parent or BASE_OID}.{number}",
        "name": f"Test Facility {number}",
        "active": True,
        "type": "Implementer",
        "part_of": parent or GATEWAY,
        "contacts": [
            {
                "purpose": "Technical",
                "name": "Interop Team",
                "email_addresses": ["interop@example.org"],
                "phone_number": {"work": "+16085550100"},
            }
        ],
        "address": {
            "street_address": "1 Main St",
            "city": "Madison",
            "state": "WI",
            "zip": "53703",
            "country": "USA",
        },
    }
    return _with(data, fields)


def organization_text(
    oid: str,
    name: str,
    *,
    part_of: str = GATEWAY,
    city: str = "Madison",
    active: bool = True,
    extra: str = "",
) -> str:
    """The text of one organization file: organization()'s record with this OID, name, parent,
    city and active flag, as a person writes it (short lists in flow style), then `extra`
    (more keys, as text). Written from a template, so thousands of files cost nothing."""
    return (
        f"oid: {oid}\n"
        f"name: {name}\n"
        f"active: {'true' if active else 'false'}\n"
        "type: Implementer\n"
        f"part_of: {part_of}\n"
        "contacts:\n"
        "  - purpose: Technical\n"
        "    name: Interop Team\n"
        "    email_addresses: [interop@example.org]\n"
        "    phone_number: {work: '+16085550100'}\n"
        "address:\n"
        "  street_address: 1 Main St\n"
        f"  city: {city}\n"
        "  state: WI\n"
        "  zip: '53703'\n"
        "  country: USA\n" + extra
    )


# Text as people write it; the dumper quotes what YAML would read as something else.
WORDS = st.text(alphabet=string.ascii_letters + string.digits + " -'&.,", min_size=1, max_size=30)
NAMES = WORDS.filter(lambda s: s.strip() == s and s.isprintable())


def complete_organization(
    *,
    number: int = 1,
    name: str = "Northwind Dubuque Clinic",
    alias: str = "Northwind",
    active: bool = True,
    destination: str | None = None,
    facility: str = "0000000001",
    contact: str = "Interop Team",
    country: str = "USA",
    street: str = "2020 Eastwood Dr",
    city: str = "Madison",
    state: str = "WI",
    zip_code: str = "53704",
    county: str = "Dane",
    endpoint: str = "Query endpoint",
) -> dict[str, Any]:
    """A valid organization record with every key the model knows filled in (the base that
    tests/mistakes.py breaks one key at a time); the arguments vary its text values."""
    return {
        "oid": f"{BASE_OID}.{number}",
        "name": name,
        "aliases": [alias, "NWH"],
        "active": active,
        "type": "Implementer",
        "part_of": GATEWAY,
        "directory": "Carequality",
        "destination_id": destination,
        "identifiers": [{"id_type": "FACID", "id": facility}],
        "contacts": [
            {
                "purpose": "Technical",
                "name": contact,
                "email_addresses": ["interop@example.org"],
                "phone_number": {"work": "+16085550100", "mobile": "+16085550101"},
            }
        ],
        "address": {
            "country": country,
            "street_address": street,
            "city": city,
            "state": state,
            "zip": zip_code,
            "county": county,
        },
        "endpoints": [
            {"name": endpoint, "address": "https://example.org/xcpd", "mime_type": "text/xml"}
        ],
    }


def provider(
    *,
    npi: str = "1245319599",
    active: bool = True,
    first: str = "Dana",
    last: str = "Okafor",
    dob: str = "1963-01-06",
    city: str = "Madison",
    location: str = "East Clinic",
    status: str = "Active",
) -> dict[str, Any]:
    """A valid provider record with every key the model knows filled in (its NPI passes Luhn):
    the base that tests/mistakes.py breaks one key at a time."""
    return {
        "identifiers": [{"id_type": "NPI", "id": npi}],
        "active": active,
        "demographics": {
            "first_name": first,
            "last_name": last,
            "dob": dob,
            "email_addresses": ["dana@example.org"],
            "phone_number": {"office": "+16085551234"},
            "addresses": [{"country": "USA", "city": city, "state": "WI", "zip": "53703"}],
        },
        "qualifications": [{"code": "MD", "start_date": "2000-02-01", "end_date": "2030-01-01"}],
        "roles": [
            {
                "organization": {
                    "identifiers": [{"id_type": "OID", "id": "2.16.840.1.113883.3.6147.458.999.1"}]
                },
                "locations": [{"name": location, "status": status}],
                "availability": [
                    {
                        "days": ["Monday", "Tuesday"],
                        "available_start_time": "09:00",
                        "available_end_time": "17:00:00Z",
                    }
                ],
            }
        ],
    }


# --- organizations, wire form ------------------------------------------------------------------

# A contact as Redox holds it.
SUPPORT_CONTACT: dict[str, Any] = {
    "Purpose": "Technical",
    "Name": "Support",
    "EmailAddresses": ["support@example.com"],
    "PhoneNumber": {"Work": "+16085359501"},
}


def organization_payload(
    oid: str,
    name: str = "My Company Facility",
    *,
    active: bool = True,
    type: Any = "Implementer",
    part_of: Any = GATEWAY,
    **fields: Any,
) -> dict[str, Any]:
    """An Organizations[] item as Redox holds it: Name, Active, the OID as its identifier,
    Type.Value and PartOf (OMIT leaves either out). `fields` are more Redox fields by their wire
    names (Address={...}, Contacts=[SUPPORT_CONTACT]), or replace these; OMIT leaves one out."""
    data: dict[str, Any] = {
        "Name": name,
        "Active": active,
        "Identifiers": [{"ID": oid, "IDType": "OID"}],
    }
    if type is not OMIT:
        data["Type"] = {"Value": type}
    if part_of is not OMIT:
        data["PartOf"] = {"Identifier": {"Value": part_of}}
    return _with(data, fields)


def facility_payload(
    oid: str, name: str, *, active: bool = True, city: str = "Madison"
) -> dict[str, Any]:
    """A Northwind facility under PARENT as the hand-made plans (and their golden files) show
    it: an Implementer with a Wisconsin address and no contact."""
    return organization_payload(
        oid,
        name,
        active=active,
        part_of=PARENT,
        Address={"City": city, "State": "WI", "ZIP": "53704"},
    )


def ledger_entry(
    n: int,
    *,
    name: str = "Clinic",
    payload: dict[str, Any] | None = None,
    active: bool = True,
    commit: str | None = None,
    unverified: bool = False,
) -> ledgers.Entry:
    """The ledger entry of organization 1.2.<n>, a child of 1.2 (`payload` replaces its
    payload whole)."""
    return ledgers.make_entry(
        kind="organization",
        identity=f"1.2.{n}",
        envelope={"Directory": "Carequality"},
        payload=payload
        if payload is not None
        else {"Name": f"{name} {n}", "PartOf": {"Identifier": {"Value": "1.2"}}},
        active=active,
        source=f"orgs/{n}.yaml",
        commit=commit,
        unverified=unverified,
    )


def big_create_plan(count: int) -> Plan:
    """A plan of `count` creates of facility_payload() records, for renderers' limits."""
    changes = tuple(
        Change(
            kind="organization",
            identity=f"{PARENT}.{n}",
            action=Action.CREATE,
            envelope={"Directory": "Carequality"},
            before=None,
            packed_after=pack(facility_payload(f"{PARENT}.{n}", f"Northwind Facility {n}")),
            source=f"orgs/facility-{n:05d}.yaml",
            depends_on=(f"organization:{PARENT}",),
        )
        for n in range(count)
    )
    return Plan("production", "lineage", 3, "d" * 64, changes)


# --- providers, wire form ----------------------------------------------------------------------


NPI = "4356789876"  # provider_payload()'s


def provider_payload(
    npi: str = NPI, *, first_name: str = "Pat", active: bool = True
) -> dict[str, Any]:
    """A Providers[] item as Redox holds it: its NPI, IsActive and a name."""
    return {
        "Identifiers": [{"ID": npi, "IDType": "NPI"}],
        "IsActive": active,
        "Demographics": {"FirstName": first_name, "LastName": "Granite"},
    }


# --- strategies of valid records ---------------------------------------------------------------

organizations = st.builds(
    complete_organization,
    number=st.integers(1, 10**6),
    name=NAMES,
    alias=NAMES,
    active=st.booleans(),
    destination=st.none() | NAMES,
    facility=st.from_regex("[0-9]{10}", fullmatch=True),
    contact=NAMES,
    country=st.sampled_from(["USA", "US", "usa"]),
    street=NAMES,
    city=NAMES,
    state=st.sampled_from(["WI", "IL", "MN", "PR"]),
    zip_code=st.from_regex("[0-9]{5}(-[0-9]{4})?", fullmatch=True),
    county=NAMES,
    endpoint=NAMES,
)
providers = st.builds(
    provider,
    npi=st.sampled_from(["1245319599", "1234567893"]),
    active=st.booleans(),
    first=NAMES,
    last=NAMES,
    dob=st.dates().map(lambda d: d.isoformat()),
    city=NAMES,
    location=NAMES,
    status=st.sampled_from(["Active", "inactive", "SUSPENDED"]),
)

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


# --- repositories ------------------------------------------------------------------------------


@dataclass
class Repo:
    """A reconciler repository on disk."""

    root: Path

    def write(self, relative: str, content: str | bytes | Mapping[str, Any] | list[Any]) -> Path:
        """Write a file: text and bytes as they are, mappings and lists as YAML."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_text(dump(content), encoding="utf-8")
        return path

    def org(self, name: str, content: str | bytes | Mapping[str, Any]) -> Path:
        """orgs/<name>.yaml (or <name> as given when it has a suffix)."""
        return self.write(f"orgs/{name if '.' in name else name + '.yaml'}", content)

    def settings(self, content: str | Mapping[str, Any]) -> Path:
        return self.write("reconciler.yaml", content)

    def ledger_path(self, env: str = "sandbox") -> Path:
        return self.root / Workspace(self.root, env).environment.ledger

    def workspace(self, env: str = "sandbox") -> Workspace:
        return Workspace(repo=self.root, env_name=env)

    def plan(self, env: str = "sandbox") -> Plan:
        return reconcile.plan(self.workspace(env))

    def settle(self, env: str = "sandbox") -> ledgers.Ledger:
        """Make the ledger equal to the files, the way apply records each change."""
        return settle(self.workspace(env))


def repository(
    root: Path,
    orgs: Mapping[str, Any] | None = None,
    *,
    settings: str | Mapping[str, Any] | None = None,
    example: bool = False,
) -> Repo:
    """A repository at `root` (made here): the example's orgs/ and settings with `example`,
    then orgs/<name>.yaml for each of `orgs` (a mapping, or text), then `settings`."""
    root.mkdir()
    made = Repo(root)
    if example:
        example_repository(root)
    for name, content in (orgs or {}).items():
        made.org(name, copy.deepcopy(content) if isinstance(content, dict) else content)
    if settings is not None:
        made.settings(settings)
    return made


def example_repository(at: Path, *, providers: bool = False) -> Path:
    """A copy of the project's example repository at `at`: orgs/ and reconciler.yaml, and
    providers/ with `providers`."""
    at.mkdir(parents=True, exist_ok=True)
    shutil.copytree(EXAMPLE_ORGS, at / "orgs")
    if providers:
        shutil.copytree(EXAMPLE_PROVIDERS, at / "providers")
    shutil.copy(EXAMPLE_SETTINGS, at / "reconciler.yaml")
    return at


def generated_repository(path: Path, *, children: int, root: str) -> Path:
    """orgs/ of one parent `root` under the gateway (orgs/parent.yaml) and `children` children
    of it (orgs/clinic-0001.yaml ...), written by organization_text()."""
    orgs = path / "orgs"
    orgs.mkdir(parents=True)
    (orgs / "parent.yaml").write_text(organization_text(root, "Generated Parent"), encoding="utf-8")
    for n in range(1, children + 1):
        text = organization_text(f"{root}.{n}", f"Generated Clinic {n}", part_of=root)
        (orgs / f"clinic-{n:04d}.yaml").write_text(text, encoding="utf-8")
    return path


def write_organizations(root: Path, records: list[dict[str, Any]]) -> Repo:
    """`records` (say, a hierarchies() draw) written to orgs/record-<n>.yaml of `root`."""
    made = Repo(root)
    for index, record in enumerate(records):
        made.org(f"record-{index}", dump(record))
    return made


def write_settings(repo: Path, **overrides: Any) -> None:
    """reconciler.yaml of `repo`, with top-level keys replaced (mappings merged one level)."""
    path = repo / "reconciler.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    data = data or {}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            merged = dict(data[key])
            for inner, inner_value in value.items():
                if isinstance(inner_value, dict) and isinstance(merged.get(inner), dict):
                    merged[inner] = {**merged[inner], **inner_value}
                else:
                    merged[inner] = inner_value
            data[key] = merged
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def settle(ws: Workspace, *, commit: str | None = None) -> ledgers.Ledger:
    """Apply every change of a fresh plan to the ledger (no Redox involved) and save it, as
    applied from `commit`."""
    plan = reconcile.plan(ws)
    current = ws.ledger()
    for change in plan.changes:
        entry = ledgers.make_entry(
            kind=change.kind,
            identity=change.identity,
            envelope=change.envelope,
            payload=change.after,
            active=kind_of(change.kind).is_active(change.after),
            source=change.source,
            commit=commit,
        )
        current = current.with_entry(change.key, entry)
    return ws.ledger_store.save(current)

"""Properties over generated organization hierarchies: once the ledger holds what a plan
creates, planning again finds nothing to do, however the files are written or named."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

from conftest import BASE_OID, GATEWAY, Repo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import reconcile, yamltext
from reconciler.jsontext import iter_pretty_json, pretty_json
from reconciler.kinds.organization import Organization
from reconciler.model import to_wire, wire_name
from reconciler.workspace import Workspace

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

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


def settle_and_replan(made: Repo, env: str) -> None:
    made.settle(env)
    assert made.plan(env).empty


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same value with every mapping's keys in a random order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def restyled(record: dict[str, Any], rng: random.Random) -> str:
    """The record as YAML in another style, key order and layout, with comments."""
    flow = rng.choice([None, True, False])
    text = yamltext.dump(
        shuffled(record, rng),
        sort_keys=False,
        default_flow_style=flow,
        width=rng.choice([20, 60, 4096]),
        indent=rng.choice([2, 4]),
        allow_unicode=rng.choice([True, False]),
        explicit_start=rng.choice([True, False]),
    )
    lines = text.splitlines()
    if flow is not True:
        # Before a top-level key a comment line cannot change any value.
        lines = [
            f"# about {line.split(':')[0]}\n{line}" if line[:1].isalpha() else line
            for line in lines
        ]
    return "# rewritten by the property test\n" + "\n".join(lines) + "\n\n# the end\n"


@SETTINGS
@given(records=hierarchies(), env=st.sampled_from(["sandbox", "development", "production"]))
def test_the_plan_after_apply_is_empty(records: list[dict[str, Any]], env: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        made = write(Path(tmp), records)
        first = made.plan(env)
        assert len(first.changes) == len(records)
        assert all(c.action.value == "create" for c in first.changes)
        created = [c.identity for c in first.changes]
        for record in records:  # parents are created before their children
            if record["part_of"] != GATEWAY:
                assert created.index(record["part_of"]) < created.index(record["oid"])
        settle_and_replan(made, env)


@SETTINGS
@given(records=hierarchies(), seed=st.integers(0, 2**32 - 1))
def test_style_order_comments_and_names_never_cause_a_change(
    records: list[dict[str, Any]], seed: int
) -> None:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        made = write(Path(tmp), records)
        made.settle()
        for path in (made.root / "orgs").iterdir():
            path.unlink()
        for record in records:
            folder = rng.choice(["", "wisconsin/", "a/b/"])
            name = f"{folder}{rng.randrange(10**6)}-{record['oid']}{rng.choice(['.yaml', '.yml'])}"
            made.write(f"orgs/{name}", restyled(record, rng))
        again = Workspace(made.root, "sandbox")
        assert len(again.records.desired) == len(records)
        assert reconcile.plan(again).empty


@SETTINGS
@given(records=hierarchies(), data=st.data())
def test_a_real_edit_is_planned_as_exactly_one_change(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        made = write(Path(tmp), records)
        made.settle()
        index = data.draw(st.integers(0, len(records) - 1))
        edited = {**records[index], "name": records[index]["name"] + " (renamed)"}
        if len(edited["name"]) > 200:
            return
        made.org(f"record-{index}", yamltext.dump(edited, allow_unicode=True))
        (change,) = made.plan().changes
        assert change.identity == edited["oid"]
        assert [f.path for f in change.fields] == ["Name"]


@SETTINGS
@given(records=hierarchies())
def test_the_fast_wire_form_is_the_models_own(records: list[dict[str, Any]]) -> None:
    """desired() builds the wire form from the checked YAML, not through pydantic's serializer;
    that is right only while no validator changes a value. This catches one that does."""
    for record in records:
        model = Organization.model_validate(record)
        dumped = model.model_dump(mode="json", exclude_unset=True, by_alias=True)
        for key in ("identifiers", "contacts", "endpoints", "address", "type"):
            if key in record:
                assert to_wire(record[key]) == dumped[wire_name(key)], key


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(value=JSON)
def test_pretty_json_is_byte_for_byte_the_standard_librarys(value: Any) -> None:
    expected = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert pretty_json(value) == expected
    assert "".join(iter_pretty_json(value)) + "\n" == expected

"""Properties over generated organization hierarchies: once the ledger holds what a plan
creates, planning again finds nothing to do, however the files are written or named."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any

from factories import GATEWAY, Repo, hierarchies, write_organizations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import reconcile
from reconciler.formats import yamltext
from reconciler.formats.jsontext import iter_pretty_json, pretty_json
from reconciler.kinds.organization import Organization
from reconciler.model import to_wire, wire_name
from reconciler.reconcile.workspace import Workspace

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


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
        made = write_organizations(Path(tmp), records)
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
        made = write_organizations(Path(tmp), records)
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
        made = write_organizations(Path(tmp), records)
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

"""validate and the sandbox agree (SPEC 1.1: whatever Redox is documented to refuse, validate
refuses first). Every record that validates, generated or written by the test suite, is
accepted by the sandbox, which refuses the way Redox is documented to; and for each content
rule of the sandbox, a record that breaks it fails validate too."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from factories import (
    EXAMPLE_ORGS,
    EXAMPLE_PROVIDERS,
    Repo,
    hierarchies,
    organization,
    organization_text,
    organizations,
    providers,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mistakes import BASES, FOLDERS, ORGANIZATION, PROVIDER, to_yaml
from redox_schemas import assert_valid_bodies

from reconciler import reconcile
from reconciler.kinds import KINDS
from reconciler.model import Action
from reconciler.reconcile.workspace import Workspace
from reconciler.sandbox.rules import (
    ORGANIZATION_RULES,
    PROVIDER_RULES,
    PROVIDER_WRITE_RULES,
    ContentRule,
    Refusal,
)
from reconciler.sandbox.store import Store

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
EVENTS = {ORGANIZATION: "organization_event", PROVIDER: "provider_event"}


def validated_bodies(root: Path) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, event, body) of every New and Update the files' records make, creates in plan
    order; the files must validate."""
    ws = Workspace(repo=root, env_name="sandbox")
    found = reconcile.validate(ws)
    assert found.valid, found.problems
    sent = []
    for change in reconcile.plan(ws).changes:
        kind = KINDS[change.kind]
        destination = ws.environment.destination(kind.name) or ""
        for action in (Action.CREATE, Action.UPDATE):
            body = kind.request(action, change.envelope, change.after, destination=destination)
            sent.append((change.kind, body["Meta"]["EventType"], body))
    return sent


def refusals(sent: list[tuple[str, str, dict[str, Any]]]) -> list[tuple[str, int, str]]:
    """What the sandbox's directory refuses of `sent`, sent in order to an empty one."""
    store = Store()
    refused = []
    for kind, event, body in sent:
        try:
            getattr(store, EVENTS[kind])(event, body)
        except Refusal as refusal:
            refused.append((event, refusal.status, refusal.text))
    return refused


def write_records(root: Path, kind: str, records: list[dict[str, Any]]) -> None:
    """`records` of `kind` in their folder of `root`, written as a person writes them."""
    for index, record in enumerate(records):
        Repo(root).write(f"{FOLDERS[kind]}/record-{index}.yaml", to_yaml(record))


# --- what validates is accepted ------------------------------------------------------------------


@SETTINGS
@given(records=hierarchies())
def test_generated_hierarchies_that_validate_are_accepted(records: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_records(Path(tmp), ORGANIZATION, records)
        sent = validated_bodies(Path(tmp))
    assert len(sent) == 2 * len(records)
    assert refusals(sent) == []
    assert_valid_bodies([body for _kind, _event, body in sent])


@SETTINGS
@given(
    orgs=st.lists(organizations, min_size=1, max_size=3, unique_by=lambda r: r["oid"]),
    people=st.lists(
        providers, min_size=1, max_size=2, unique_by=lambda r: r["identifiers"][0]["id"]
    ),
)
def test_generated_records_of_every_kind_that_validate_are_accepted(
    orgs: list[dict[str, Any]], people: list[dict[str, Any]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_records(Path(tmp), ORGANIZATION, orgs)
        write_records(Path(tmp), PROVIDER, people)
        sent = validated_bodies(Path(tmp))
    assert {kind for kind, _event, _body in sent} == {ORGANIZATION, PROVIDER}
    assert refusals(sent) == []
    assert_valid_bodies([body for _kind, _event, body in sent])


def test_the_records_the_suite_writes_are_accepted(repo: Callable[..., Repo]) -> None:
    """The example repository and the factories' records (organization(), organization_text(),
    the catalog's bases): every one validates and the sandbox takes every one."""
    made = repo(
        {"made": organization(11), "connection": organization(12, type="Connection", contacts=[])}
    )
    for path in EXAMPLE_ORGS.glob("*.yaml"):
        made.org(path.name, path.read_text(encoding="utf-8"))
    for path in EXAMPLE_PROVIDERS.glob("*.yaml"):
        made.write(f"providers/{path.name}", path.read_text(encoding="utf-8"))
    made.org("served", organization_text(f"{BASES[ORGANIZATION]['oid']}9", "Served Clinic"))
    made.org("base", to_yaml(BASES[ORGANIZATION]))
    made.write("providers/base.yaml", to_yaml(BASES[PROVIDER]))

    sent = validated_bodies(made.root)

    assert len(sent) == 2 * 12
    assert refusals(sent) == []
    assert_valid_bodies([body for _kind, _event, body in sent])


# --- what the sandbox refuses for content fails validate -----------------------------------------

Edit = Callable[[dict[str, Any]], Any]


def _drop_oid_identifier(payload: dict[str, Any]) -> None:
    payload["Identifiers"] = [i for i in payload["Identifiers"] if i.get("IDType") != "OID"]


# Rule name -> ways to break it: (the edit of the YAML record, the same edit of its payload).
BREAKS: dict[str, list[tuple[Edit, Edit]]] = {
    "a name": [
        (lambda r: r.update(name=""), lambda p: p.update(Name="")),
        (lambda r: r.pop("name"), lambda p: p.pop("Name")),
    ],
    "the active flag": [
        (lambda r: r.update(active="maybe"), lambda p: p.update(Active="maybe")),
    ],
    "an OID identifier": [(lambda r: r.pop("oid"), _drop_oid_identifier)],
    "a valid type": [
        (lambda r: r.pop("type"), lambda p: p.pop("Type")),
        (lambda r: r.update(type="Gateway"), lambda p: p.update(Type={"Value": "Gateway"})),
        (
            lambda r: r.update(type={"system": "urn:cq"}),
            lambda p: p.update(Type={"System": "urn:cq"}),
        ),
    ],
    "a contact for an Implementer": [
        (lambda r: r.pop("contacts"), lambda p: p.pop("Contacts")),
        (lambda r: r.update(contacts=[]), lambda p: p.update(Contacts=[])),
    ],
    "a display name on every endpoint": [
        (lambda r: r["endpoints"][0].pop("name"), lambda p: p["Endpoints"][0].pop("Name")),
        (lambda r: r["endpoints"][0].update(name=""), lambda p: p["Endpoints"][0].update(Name="")),
    ],
}
PROVIDER_BREAKS: dict[str, list[tuple[Edit, Edit]]] = {
    "an identifier": [
        (lambda r: r.update(identifiers=[]), lambda p: p.update(Identifiers=[])),
        (
            lambda r: r["identifiers"][0].pop("id"),
            lambda p: p["Identifiers"][0].pop("ID"),
        ),
    ],
    "the active flag": [
        (lambda r: r.update(active="maybe"), lambda p: p.update(IsActive="maybe")),
    ],
}
RULES = {
    ORGANIZATION: (ORGANIZATION_RULES, BREAKS),
    PROVIDER: (PROVIDER_RULES + PROVIDER_WRITE_RULES, PROVIDER_BREAKS),
}


@pytest.mark.parametrize("kind", sorted(RULES))
def test_every_content_rule_of_the_sandbox_has_a_way_to_break_it(kind: str) -> None:
    rules, breaks = RULES[kind]
    assert sorted(rule.name for rule in rules) == sorted(breaks)


def _payload_and_errors(kind: str, record: dict[str, Any], root: Path) -> tuple[Any, list[str]]:
    write_records(root, kind, [record])
    found = reconcile.validate(Workspace(repo=root, env_name="sandbox"))
    errors = [p.message for p in found.problems if p.severity == "error"]
    if errors:
        return None, errors
    (desired,) = Workspace(repo=root, env_name="sandbox").desired.values()
    return desired, []


def _rule(kind: str, name: str) -> ContentRule:
    return next(rule for rule in RULES[kind][0] if rule.name == name)


BREAK_CASES = [
    pytest.param(kind, name, index, id=f"{kind}: {name} #{index + 1}")
    for kind, (_rules, breaks) in sorted(RULES.items())
    for name, ways in sorted(breaks.items())
    for index in range(len(ways))
]


@pytest.mark.parametrize(("kind", "name", "index"), BREAK_CASES)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_the_sandbox_refuses_for_its_content_fails_validate(
    kind: str, name: str, index: int, data: st.DataObject
) -> None:
    record = data.draw(organizations if kind == ORGANIZATION else providers, label="record")
    edit_yaml, edit_payload = RULES[kind][1][name][index]
    with tempfile.TemporaryDirectory() as valid, tempfile.TemporaryDirectory() as broken:
        desired, errors = _payload_and_errors(kind, record, Path(valid))
        assert errors == []
        edited = copy.deepcopy(record)
        edit_yaml(edited)
        _none, errors = _payload_and_errors(kind, edited, Path(broken))
    assert errors, f"validate accepts a record that breaks {name!r}"

    payload = desired.payload
    edit_payload(payload)
    body = KINDS[kind].request(Action.CREATE, desired.envelope, payload, destination="d")
    with pytest.raises(Refusal) as refused:
        getattr(Store(), EVENTS[kind])(body["Meta"]["EventType"], body)
    rule = _rule(kind, name)
    assert (refused.value.status, refused.value.text) == (rule.status, rule.text)

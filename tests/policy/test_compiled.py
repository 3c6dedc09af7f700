"""The compiled policies (policy.closures) against celpy, the reference: for expressions from a
grammar of what policies use over inputs shaped like a plan's, and for every policy the tests,
the README and the bench hold, the closure and celpy agree on every value, on error against
value, and on the error's words; where the closure leaves a case to celpy (Defer), the
program's outcome is celpy's."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from cel_strategies import (
    by_celpy,
    by_compiler,
    celpy_budget,
    expressions,
    inputs,
    unless_celpy_too_costly,
    within_memory,
    wrap,
)
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from reconciler.policy.cel import _parsed, _run, compile_expression, to_cel
from reconciler.policy.runtime import frame_of

PROJECT = Path(__file__).resolve().parents[2]


def agree(text: str, values: dict[str, Any]) -> tuple[Any, ...] | None:
    """Assert that the compiled closure and celpy agree on `text` for `values`; what the closure
    gave."""
    reference = by_celpy(text, values)
    mine = by_compiler(text, values)
    event(f"celpy: {reference[0]}")
    event(f"compiled: {'deferred to celpy' if mine is None else mine[0]}")
    if mine is not None and mine[0] != "unsupported":
        assert reference[0] != "raised", (text, values, reference)
        assert mine == reference, (text, values)
    # The program as a plan evaluates it: compiled, or celpy where the closure defers.
    program = compile_expression(text)
    runner, _ = _parsed(text)

    def as_cel() -> dict[str, Any]:
        return {name: to_cel(v) for name, v in values.items()}

    with celpy_budget():  # where the closure defers, the program runs celpy too
        found, whole = program.evaluate(values, as_cel), _run(runner, as_cel())
    within_memory(found, whole)
    assert found == whole, (text, values)
    return mine


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions(), values=inputs)
def test_compiled_expressions_agree_with_celpy(text: str, values: dict[str, Any]) -> None:
    with unless_celpy_too_costly():
        agree(text, values)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=expressions(), values=inputs)
def test_many_compiled_expressions_agree_with_celpy(text: str, values: dict[str, Any]) -> None:
    with unless_celpy_too_costly():
        agree(text, values)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operands=st.lists(expressions(depth=1).map(wrap), min_size=2, max_size=4),
    values=inputs,
    data=st.data(),
)
def test_programs_sharing_a_change_agree_with_celpy(
    operands: list[str], values: dict[str, Any], data: st.DataObject
) -> None:
    with unless_celpy_too_costly():
        sharing_programs_agree(operands, values, data)


@pytest.mark.slow
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    operands=st.lists(expressions(depth=1).map(wrap), min_size=2, max_size=4),
    values=inputs,
    data=st.data(),
)
def test_many_programs_sharing_a_change_agree_with_celpy(
    operands: list[str], values: dict[str, Any], data: st.DataObject
) -> None:
    with unless_celpy_too_costly():
        sharing_programs_agree(operands, values, data)


def sharing_programs_agree(
    operands: list[str], values: dict[str, Any], data: st.DataObject
) -> None:
    # Policies made of the same operands, joined and ordered differently, evaluated over one
    # frame as a plan does: what one keeps in the frame's memo is what the next would find.
    texts = [
        data.draw(st.sampled_from([" && ", " || "])).join(data.draw(st.permutations(operands)))
        for _ in range(4)
    ]
    texts.append(f"{operands[0]} && ({operands[-1]} || {operands[0]})")
    programs = [compile_expression(text) for text in texts]
    shared = frame_of(values, max(p.slots for p in programs))

    def as_cel() -> dict[str, Any]:
        return {name: to_cel(v) for name, v in values.items()}

    for text, program in zip(texts, programs, strict=True):
        with celpy_budget():
            found, whole = (
                program.evaluate(values, as_cel, frame=shared),
                _run(_parsed(text)[0], as_cel()),
            )
        within_memory(found, whole)
        assert found == whole, (text, values)


# -- every policy the project shows ---------------------------------------------------------------


def known_policies() -> list[str]:
    """The deny expressions of the README, the bench, the example reconciler.yaml and the tests."""
    found: list[str] = []
    readme = (PROJECT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Policies", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    found += [p["deny"] for p in yaml.safe_load(block.group(1))["policies"]]
    bench = ast.parse((PROJECT / "bench" / "policy_scale.py").read_text(encoding="utf-8"))
    for node in ast.walk(bench):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TEMPLATES":
            found += [deny.replace("{i}", "7") for _, deny in ast.literal_eval(node.value)]
    settings_file = yaml.safe_load((PROJECT / "reconciler.yaml").read_text(encoding="utf-8"))
    found += [p["deny"] for p in settings_file.get("policies") or []]
    quoted = re.compile(r"""deny["']?:\s*(?:'([^'\n]+)'|"([^"\n]+)")""")
    for test in PROJECT.glob("tests/**/test_*.py"):
        found += [a or b for a, b in quoted.findall(test.read_text(encoding="utf-8"))]
    from test_evaluate import ATOMS, DENIES, EMAILS, TOTAL

    found += [*ATOMS, *DENIES, EMAILS, TOTAL, " && ".join(ATOMS), " || ".join(ATOMS), *TABLES]
    valid = []
    for deny in dict.fromkeys(found):
        try:
            _parsed(deny)
        except ValueError:  # the tests' deliberately broken ones
            continue
        valid.append(deny)
    return valid


# test_evaluate's tables of what a change holds, as a policy sees it.
TABLES = [
    '"Active" in change.fields',
    '"Address.City" in change.fields',
    "change.before == null",
    'change.before.Address.City == "Madison"',
    "has(change.after.Name) && has(change.after.Contacts)",
    'change.after.Identifiers.exists(i, i.IDType == "NPI" && i.ID == change.identity)',
    "change.after.IsActive",
    "plan.update == 1 && plan.create + plan.update + plan.deactivate + plan.reactivate == 1",
    'change.source == "orgs/clinic.yaml"',
]
KNOWN = known_policies()


def test_the_known_policies_are_found() -> None:
    assert len(KNOWN) >= 20
    assert any("EmailAddresses.exists" in deny for deny in KNOWN)  # the README's


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=inputs, data=st.data())
def test_every_known_policy_agrees_with_celpy_and_is_compiled(
    values: dict[str, Any], data: st.DataObject
) -> None:
    with unless_celpy_too_costly():
        known_policies_agree(values, data)


@pytest.mark.slow
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=inputs, data=st.data())
def test_every_known_policy_agrees_with_celpy_over_many_plans(
    values: dict[str, Any], data: st.DataObject
) -> None:
    with unless_celpy_too_costly():
        known_policies_agree(values, data)


def known_policies_agree(values: dict[str, Any], data: st.DataObject) -> None:
    for deny in KNOWN:
        mine = agree(deny, values)
        assert mine != ("unsupported",), deny
    # A realistic plan's change is answered by the closures alone, never by celpy.
    realistic = data.draw(realistic_inputs)
    for deny in KNOWN:
        assert agree(deny, realistic) is not None, (deny, realistic)


realistic_inputs = st.fixed_dictionaries(
    {
        "change": st.fixed_dictionaries(
            {
                "action": st.sampled_from(["create", "update", "deactivate", "reactivate"]),
                "kind": st.sampled_from(["organization", "provider"]),
                "identity": st.just("2.16.840.1.113883.3.1"),
                "source": st.just("orgs/clinic.yaml"),
                "before": st.none() | st.just({"Name": "Clinic", "Active": True}),
                "after": st.fixed_dictionaries(
                    {"Name": st.sampled_from(["Clinic", "Closed 7"]), "Active": st.booleans()},
                    optional={
                        "DestinationID": st.none() | st.just("retired-7"),
                        "Contacts": st.lists(
                            st.fixed_dictionaries(
                                {
                                    "Name": st.just("Front desk"),
                                    "EmailAddresses": st.lists(
                                        st.sampled_from(
                                            ["a@example.org", "b@northwind-health7.example"]
                                        ),
                                        max_size=2,
                                    ),
                                }
                            ),
                            max_size=2,
                        ),
                        "Identifiers": st.just([{"IDType": "NPI", "ID": "2.16.840.1.113883.3.1"}]),
                        "PartOf": st.just({"Identifier": {"Value": "7"}}),
                        "Address": st.just({"City": "Madison"}),
                        "IsActive": st.booleans(),
                    },
                ),
                "fields": st.lists(
                    st.sampled_from(["Name", "Active", "Address.City", "Contacts[0]"]), max_size=2
                ),
            }
        ),
        "env": st.sampled_from(["sandbox", "production"]),
        "plan": st.fixed_dictionaries(
            {a: st.integers(0, 3) for a in ("create", "update", "deactivate", "reactivate")}
        ),
    }
)

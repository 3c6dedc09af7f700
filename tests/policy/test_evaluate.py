"""Policies over plans (reconciler.policy): what `change`, `env` and `plan` hold for each action
of each kind, fail-closed evaluation, compile errors, and that results depend on neither file
names nor the order of records."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from factories import PROJECT, Repo, organization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.plan import Plan
from reconciler.policy import (
    Level,
    Policy,
    PolicyCompileError,
    blocking,
    compile_policies,
    evaluate,
    overridden,
)
from reconciler.policy.cel import compile_expression

PROVIDER = PROJECT / "providers" / "pat-granite.yaml"
NPI = "4356789876"


def results(plan: Plan, *expressions: str, env: tuple[str, ...] | None = None) -> dict[str, bool]:
    """expression -> whether it denied the plan's one change."""
    policies = [
        Policy(f"p{i}", Level.HARD, deny, "denied", environments=env)
        for i, deny in enumerate(expressions)
    ]
    found = evaluate(compile_policies(policies, "reconciler.yaml"), plan)
    by_name = {r.name: r for r in found}
    out: dict[str, bool] = {}
    for i, deny in enumerate(expressions):
        violations = by_name[f"p{i}"].violations
        assert all("could not be evaluated" not in v.message for v in violations), violations
        out[deny] = bool(violations)
    return out


def one_change(repo: Callable[..., Repo], kind: str, action: str) -> Plan:
    """A plan holding one change of `kind` with `action`, from real files and a settled ledger."""
    made = repo()
    if kind == "organization":
        path = made.org("clinic", organization(1, active=action != "reactivate"))
    else:
        path = made.write("providers/pat.yaml", PROVIDER.read_text())
        if action == "reactivate":
            path.write_text(path.read_text().replace("active: true", "active: false"))
    if action != "create":
        made.settle()
        text = path.read_text()
        path.write_text(
            {
                "update": text.replace("Madison", "Verona", 1),
                "deactivate": text.replace("active: true", "active: false"),
                "reactivate": text.replace("active: false", "active: true"),
            }[action]
        )
    plan = made.plan()
    assert [(c.kind, c.action.value) for c in plan.changes] == [(kind, action)]
    return plan


ACTIONS = ["create", "update", "deactivate", "reactivate"]
EMAILS = 'change.after.Contacts.exists(c, c.EmailAddresses.exists(e, e.endsWith("@example.org")))'
TOTAL = "plan.create + plan.update + plan.deactivate + plan.reactivate"


@pytest.mark.parametrize("action", ACTIONS)
def test_an_organizations_change_as_a_policy_sees_it(
    repo: Callable[..., Repo], action: str
) -> None:
    plan = one_change(repo, "organization", action)
    oid = plan.changes[0].identity
    table = {
        f'change.action == "{action}"': True,
        'change.kind == "organization"': True,
        f'change.identity == "{oid}"': True,
        'change.source == "orgs/clinic.yaml"': True,
        "has(change.after.Name) && has(change.after.Contacts)": True,
        "has(change.after.DestinationID)": False,
        "change.before == null": action == "create",
        "size(change.fields) > 0": action != "create",
        '"Active" in change.fields': action in {"deactivate", "reactivate"},
        '"Address.City" in change.fields': action == "update",
        "change.after.Active": action != "deactivate",
        EMAILS: True,
        'env == "sandbox"': True,
        f"plan.{action} == 1 && {TOTAL} == 1": True,
    }
    if action != "create":
        table['change.before.Address.City == "Madison"'] = True
        table["change.before.Active"] = action != "reactivate"
    assert results(plan, *table) == table


@pytest.mark.parametrize("action", ACTIONS)
def test_a_providers_change_as_a_policy_sees_it(repo: Callable[..., Repo], action: str) -> None:
    plan = one_change(repo, "provider", action)
    table = {
        f'change.action == "{action}"': True,
        'change.kind == "provider"': True,
        f'change.identity == "{NPI}"': True,
        'change.source == "providers/pat.yaml"': True,
        'change.after.Identifiers.exists(i, i.IDType == "NPI" && i.ID == change.identity)': True,
        "change.before == null": action == "create",
        "has(change.after.Contacts)": False,
        "change.after.IsActive": action != "deactivate",
        '"IsActive" in change.fields': action in {"deactivate", "reactivate"},
        f"plan.{action} == 1": True,
    }
    assert results(plan, *table) == table


def test_the_spec_example_denies_creates_without_a_destination_only_in_production(
    repo: Callable[..., Repo],
) -> None:
    made = repo(
        {
            "routed": organization(1, destination_id="0f3c5a8e-2b7d-4c19-9e6a-1d2f3b4c5d6e"),
            "unrouted": organization(2),
        }
    )
    deny = (
        'change.kind == "organization" && change.action in ["create", "update"] '
        "&& (!has(change.after.DestinationID) || change.after.DestinationID == null)"
    )
    policy = Policy("routes", Level.HARD, deny, "needs a destination", environments=("production",))
    compiled = compile_policies([policy], "reconciler.yaml")
    [result] = evaluate(compiled, made.plan("production"))
    assert [v.identity for v in result.violations] == [organization(2)["oid"]]
    assert result.violations[0].key == f"organization:{organization(2)['oid']}"
    assert result.violations[0].action == "create"
    assert evaluate(compiled, made.plan("development")) == ()  # not its environment


def test_an_expression_that_errors_is_a_violation_carrying_the_error(
    repo: Callable[..., Repo],
) -> None:
    plan = one_change(repo, "organization", "create")
    policies = [
        Policy("missing-field", Level.SOFT, 'change.after.Nope == "x"', "nope"),
        Policy("on-null", Level.SOFT, 'change.before.Name == "x"', "before"),
        Policy("not-bool", Level.SOFT, "change.after.Name", "a string"),
        Policy("absorbed", Level.SOFT, 'change.after.Nope == "x" || true', "absorbed"),
    ]
    found = {r.name: r for r in evaluate(compile_policies(policies, "r.yaml"), plan)}
    assert "no such member" in found["missing-field"].violations[0].message
    assert found["missing-field"].violations[0].message.startswith("nope (deny could not be")
    assert "does not support field selection" in found["on-null"].violations[0].message
    assert "not true or false" in found["not-bool"].violations[0].message
    # CEL's || absorbs an error when the other side is true: that is a violation, no error.
    assert found["absorbed"].violations[0].message == "absorbed"


@pytest.mark.parametrize(
    ("deny", "expected"),
    [
        ('change.kind = "x"', "column 13"),
        ("chnage.kind == 1", "unknown variable `chnage`"),
        ("lower(change.kind)", "unknown function `lower`"),
        ("change.action == ", "not valid CEL"),
    ],
)
def test_a_policy_that_does_not_compile_is_reported_at_its_line(deny: str, expected: str) -> None:
    policy = Policy("bad", Level.HARD, deny, "m", line=12)
    with pytest.raises(PolicyCompileError) as raised:
        compile_policies(
            [Policy("ok", Level.HARD, "false", "m", line=3), policy], "reconciler.yaml"
        )
    [problem] = raised.value.problems
    assert (problem.file, problem.line) == ("reconciler.yaml", 12)
    assert expected in problem.message
    assert "'bad'" in problem.message


def test_each_expression_is_compiled_once_and_reads_only_what_it_names() -> None:
    text = 'change.kind == "organization" && has(change.after.DestinationID) && env == "x"'
    first, second = compile_expression(text), compile_expression(text)
    assert first.runner is second.runner  # parsed once per process
    assert first.paths == (("change", "after", "DestinationID"), ("change", "kind"), ("env",))


def test_blocking_and_overrides() -> None:
    from reconciler.policy import PolicyResult, Violation

    v = (Violation("organization:1", "1", "deactivate", "m"),)
    hard = PolicyResult("h", Level.HARD, (), v)
    soft = PolicyResult("s", Level.SOFT, ("alice",), v)
    advisory = PolicyResult("a", Level.ADVISORY, (), v)
    clean = PolicyResult("c", Level.HARD, (), ())
    every = [hard, soft, advisory, clean]
    assert blocking(every) == [hard, soft]
    assert blocking(every, ["s", "h"]) == [hard]  # no name lets a hard policy through
    assert overridden(every, ["s", "h", "a"]) == ("s",)


# -- results depend on neither file names nor the order of records ---------------------------

DENIES = [
    'change.action == "create" && change.after.Address.City == "Madison"',
    'change.after.Contacts.exists(c, c.Name.startsWith("Interop"))',
    "plan.create > 2 && change.identity.endsWith('1')",
    'env == "sandbox" && change.after.Name.contains("3")',
    "change.after.Nope == 1",  # errors for every change: fail closed, the same everywhere
]


def _plan_of(root: Path, orgs: list[tuple[str, dict[str, object]]]) -> Plan:
    if root.exists():
        shutil.rmtree(root)
    made = Repo(root)
    for name, data in orgs:
        made.org(name, data)
    return made.plan()


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cities=st.lists(st.sampled_from(["Madison", "Verona", "Monona"]), min_size=1, max_size=6),
    names=st.data(),
)
def test_policy_results_depend_on_neither_file_names_nor_record_order(
    tmp_path: Path, cities: list[str], names: st.DataObject
) -> None:
    orgs = [
        organization(n + 1, address={"city": c, "state": "WI", "country": "USA"})
        for n, c in enumerate(cities)
    ]
    files = names.draw(
        st.lists(
            st.text("abcdefgh", min_size=1, max_size=8),
            min_size=len(orgs),
            max_size=len(orgs),
            unique=True,
        )
    )
    order = names.draw(st.permutations(range(len(orgs))))
    policies = [Policy(f"p{i}", Level.SOFT, deny, f"m{i}") for i, deny in enumerate(DENIES)]
    compiled = compile_policies(policies, "reconciler.yaml")
    one = _plan_of(tmp_path / "one", [(f"org-{i}", o) for i, o in enumerate(orgs)])
    other = _plan_of(tmp_path / "two", [(files[i], orgs[i]) for i in order])
    first, second = evaluate(compiled, one), evaluate(compiled, other)
    assert first == second
    # A plan whose changes come in another order yields the same violations, in plan order.
    shuffled = replace(one, changes=tuple(reversed(one.changes)))
    assert {r.name: set(r.violations) for r in evaluate(compiled, shuffled)} == {
        r.name: set(r.violations) for r in first
    }


# -- the memo and the operand-by-operand chains agree with celpy's own evaluation ------------

ATOMS = [
    'change.action == "update"',
    'change.kind == "organization"',
    "change.after.Active",
    "has(change.after.DestinationID)",
    "change.after.DestinationID == null",
    'change.after.Name.startsWith("A")',
    "change.before.Active",  # errors when before is null
    "change.after.Missing == 1",  # always errors
    "size(change.fields) > 1",
    "(change.after.Active || change.after.Nope)",
]


@settings(max_examples=60, deadline=None)
@given(
    atoms=st.lists(st.sampled_from(ATOMS), min_size=1, max_size=4),
    join=st.sampled_from([" && ", " || "]),
    changes=st.lists(
        st.fixed_dictionaries(
            {
                "action": st.sampled_from(["create", "update"]),
                "kind": st.sampled_from(["organization", "provider"]),
                "before": st.one_of(st.none(), st.fixed_dictionaries({"Active": st.booleans()})),
                "after": st.fixed_dictionaries(
                    {"Active": st.booleans(), "Name": st.sampled_from(["Ann", "Bob"])},
                    optional={"DestinationID": st.one_of(st.none(), st.just("d"))},
                ),
                "fields": st.lists(st.sampled_from(["Name", "Active"]), max_size=2),
            }
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_memoised_chains_agree_with_celpy_on_the_whole_expression(
    atoms: list[str], join: str, changes: list[dict[str, object]]
) -> None:
    from reconciler.policy.cel import _run, to_cel

    program = compile_expression(join.join(atoms))
    for change in changes:
        inputs = {"change": change, "env": "sandbox"}

        def as_cel(inputs: dict[str, object] = inputs) -> dict[str, object]:
            return {name: to_cel(value) for name, value in inputs.items()}

        fast = program.evaluate(inputs, as_cel)
        whole = _run(program.runner, as_cel())
        assert (fast.value, fast.error is None) == (whole.value, whole.error is None), (
            join.join(atoms),
            change,
        )

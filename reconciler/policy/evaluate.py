"""Policies over a plan: compile each once, evaluate `deny` for every change of a plan of the
environments it applies to, and collect the violations. Fail closed: a `deny` that cannot be
evaluated for a change (a missing field, a wrong type) is a violation that carries the error."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from reconciler.errors import Problem
from reconciler.policy.form import FormStore
from reconciler.policy.model import Policy, PolicyResult, Violation

if TYPE_CHECKING:
    from reconciler.plan import Change, Plan  # the plan's modules: `validate` loads none
    from reconciler.policy.cel import Program

# The compiler (policy.cel and what it compiles with) is imported by the functions that compile
# or evaluate: a plan without policies does not load it.


@dataclass(frozen=True)
class Compiled:
    """The policies of reconciler.yaml, each compiled once."""

    programs: tuple[tuple[Policy, Program], ...]

    @property
    def policies(self) -> tuple[Policy, ...]:
        return tuple(policy for policy, _ in self.programs)


class PolicyCompileError(ValueError):
    """One or more policies are not valid CEL; `problems` says where."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def compile_problems(
    policies: Sequence[Policy], file: str, *, cache: FormStore | None = None
) -> list[Problem]:
    """A Problem at its line for each policy whose `deny` does not compile (for `validate`).
    `cache`: the compiled policies kept between runs, if any."""
    from reconciler.policy.cel import compile_expression
    from reconciler.policy.tree import CelError

    problems: list[Problem] = []
    for policy in policies:
        try:
            compile_expression(policy.deny, cache=cache)
        except CelError as exc:
            # A block scalar's expression starts on the line after the key.
            line = policy.line + (exc.line if "\n" in policy.deny and exc.line else 0)
            problems.append(
                Problem(file, line, f"policy {policy.name!r}: deny is {exc}", subject=policy.name)
            )
    return problems


def compile_policies(
    policies: Sequence[Policy], file: str, *, cache: FormStore | None = None
) -> Compiled:
    """Every policy compiled (from `cache` when it holds them); PolicyCompileError listing each
    one that is not valid CEL."""
    from reconciler.policy.cel import compile_expression

    problems = compile_problems(policies, file, cache=cache)
    if problems:
        raise PolicyCompileError(problems)
    return Compiled(tuple((p, compile_expression(p.deny)) for p in policies))


def change_input(change: Change) -> dict[str, Any]:
    """`change` as a policy sees it (SPEC 8): the wire payloads as in the JSON plan."""
    return {
        "action": change.action.value,
        "kind": change.kind,
        "identity": change.identity,
        "source": change.source,
        "before": change.before,
        "after": change.after,
        "fields": [f.path for f in change.fields],
    }


def plan_input(plan: Plan) -> dict[str, int]:
    """`plan` as a policy sees it: how many changes of each action."""
    return {action.value: count for action, count in plan.counts().items()}


def evaluate(compiled: Compiled, plan: Plan) -> tuple[PolicyResult, ...]:
    """One result per policy that applies to the plan's environment, in the file's order, each
    with its violations in plan order."""
    applying = [(p, prog) for p, prog in compiled.programs if p.applies_to(plan.environment)]
    if not applying:
        return ()
    from reconciler.policy.cel import native
    from reconciler.policy.cel import outcome as cel_outcome
    from reconciler.policy.runtime import frame_of
    from reconciler.policy.values import Defer, Fatal

    found: dict[str, list[Violation]] = {p.name: [] for p, _ in applying}
    counts = plan_input(plan)
    slots = max(program.slots for _, program in applying)
    runs = [
        (policy, program, program.compiled.run if program.compiled else None, found[policy.name])
        for policy, program in applying
    ]
    for change in plan.changes:
        inputs = {"change": change_input(change), "env": plan.environment, "plan": counts}
        as_cel = _Lazy(inputs)
        frame = frame_of(inputs, slots) if native(inputs) else None
        where: tuple[str, str, str] | None = None
        for policy, program, run, violations in runs:
            if run is not None and frame is not None:
                # The compiled closure, inline: most policies pass most changes.
                try:
                    value = run(frame)
                except Fatal as exc:
                    value = exc.err
                except Defer:
                    value = Defer
                if value is False:
                    continue
                if value is Defer:
                    outcome = program.evaluate(inputs, as_cel, native=False)
                else:
                    outcome = cel_outcome(value)
            else:
                outcome = program.evaluate(inputs, as_cel, frame=frame, native=frame is not None)
            if outcome.value is False:
                continue
            message = policy.message
            if outcome.error is not None:
                message = f"{policy.message} (deny could not be evaluated: {outcome.error})"
            if where is None:
                where = (change.key, change.identity, change.action.value)
            violations.append(Violation(*where, message))
    return tuple(
        PolicyResult(p.name, p.level, p.approvers, tuple(found[p.name])) for p, _ in applying
    )


class _Lazy:
    """The inputs as CEL values, converted on first use and kept for the change's other
    policies."""

    def __init__(self, inputs: Mapping[str, Any]) -> None:
        self._inputs = inputs
        self._cel: dict[str, Any] | None = None

    def __call__(self) -> Mapping[str, Any]:
        from reconciler.policy.cel import to_cel

        if self._cel is None:
            self._cel = {name: to_cel(value) for name, value in self._inputs.items()}
        return self._cel

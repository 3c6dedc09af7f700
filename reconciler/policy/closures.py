"""The intermediate form of a policy (policy.lowering) compiled into Python closures, once per
expression: evaluating one is a few function calls over the plain JSON of a change, with no
conversion to celpy's types and no tree walked. No celpy here.

celpy's evaluation is kept exactly (policy.values says how). celpy evaluates every operand of
`&&` and `||`, and an error it raises rather than returns (a `map` whose expression fails, a
macro over a value that is not a list) is not absorbed by them. So each node has, besides its
closure, a probe: what raises exactly when the node's evaluation would, at a fraction of the
cost (None for a pure node, one that cannot raise: no macro, no numeric conversion). Once one
side of `&&` or `||` has decided, the other is only probed: for `change.kind == "organization"
&& change.after.Contacts.exists(c, ...)` on a provider's change, that is a look at whether
`Contacts` is a list, not an evaluation of every contact.

`build` checks the form strictly (`BadForm`): a form read back from the cache that is not one
this module makes is never run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from reconciler.policy.functions import FUNCTIONS, RAISING, call
from reconciler.policy.operations import (
    arithmetic,
    index,
    list_of,
    logical_not,
    map_of,
    negate,
    relation,
    truthy,
)
from reconciler.policy.runtime import (
    FIRST_SLOT,
    MISSING,
    SHARED,
    Closure,
    Node,
    Probe,
    chain,
    fast_call,
    fast_relation,
    fold,
    fold_probe,
    frame_of,
    frame_path,
    memoized,
    path,
    probes,
    root,
    strict,
)
from reconciler.policy.values import (
    MACROS,
    ROOTS,
    TYPE_NAMES,
    Defer,
    Err,
    Fatal,
    Uint,
    no_overload,
)

_RELATIONS: Final = frozenset(
    {"relation_eq", "relation_ne", "relation_lt", "relation_le", "relation_gt", "relation_ge"}
    | {"relation_in"}
)
_ARITHMETIC: Final = frozenset(
    {"addition_add", "addition_sub", "multiplication_mul", "multiplication_div"}
    | {"multiplication_mod"}
)
_FORMS: Final = frozenset(
    {"var", "type", "select", "index", "has", "dyn", "and", "or", "cond", "not", "neg"}
    | {"relation", "arithmetic", "call", "list", "map", "macro"}
)


class BadForm(ValueError):
    """A form that policy.lowering does not make."""


@dataclass(frozen=True)
class Compiled:
    """An expression as a closure over a frame (`frame_of`): the inputs (change, env, plan), a
    memo, then one slot per macro variable."""

    run: Closure
    slots: int

    def __call__(self, inputs: Mapping[str, Any]) -> Any:
        """The value of the expression (an Err for an error); Defer when celpy must say."""
        return self.evaluate(frame_of(inputs, self.slots))

    def evaluate(self, frame: list[Any]) -> Any:
        """The same over a frame of at least `slots` slots."""
        try:
            return self.run(frame)
        except Fatal as exc:
            return exc.err


def build(form: Any) -> Compiled:
    """The closure of a form; BadForm when `form` is not one policy.lowering makes."""
    builder = _Builder()
    if type(form) is list and len(form) == 2 and form[0] == "undumpable":
        builder.undumpable, form = True, form[1]
    try:
        run, _ = builder.node(form)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        if isinstance(exc, BadForm):
            raise
        raise BadForm(f"{type(exc).__name__}: {exc}") from None
    return Compiled(run, builder.slots)


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise BadForm(what)


class _Builder:
    def __init__(self) -> None:
        self.scope: list[tuple[str, int]] = []  # macro variables and their slots, innermost last
        self.slots = 0
        self.undumpable = False  # an error may have a tree celpy fails to print (lowering)
        self.constants: dict[Closure, Any] = {}  # the closures of constants, and their values

    def constant(self, value: Any) -> Node:
        def constant(frame: list[Any]) -> Any:
            return value

        self.constants[constant] = value
        return constant, None

    def folded(self, run: Closure, probe: Probe, *operands: Closure) -> Node:
        """`run` evaluated once, when its operands are constants and it cannot raise: a node
        of constants is folded into one."""
        if probe is not None or not all(o in self.constants for o in operands):
            return run, probe
        try:
            value = run([])
        except Defer:
            return run, probe
        return self.constant(value)

    def node(self, form: Any) -> Node:
        """The closure of `form`, and its probe."""
        _check(type(form) is list and len(form) > 0 and type(form[0]) is str, "a form")
        op, args = form[0], form[1:]
        literal = _LITERALS.get(op)
        if literal is not None:
            return self.constant(literal(args))
        method = _METHODS.get(op)
        _check(method is not None, "a form of policy.lowering")
        return method(self, *args)  # type: ignore[misc]

    def nodes(self, forms: Any) -> list[Node]:
        _check(type(forms) is list, "a list of forms")
        return [self.node(f) for f in forms]

    # -- names ---------------------------------------------------------------------------------

    def _var(self, name: str) -> Node:
        _check(type(name) is str, "a name")
        at = self.resolve(name)
        if at >= FIRST_SLOT:
            return (lambda frame: frame[at]), None
        return root(at), None

    def resolve(self, name: str) -> int:
        """The frame index of a variable: its macro's slot, else the input's."""
        slots = [slot for bound, slot in self.scope if bound == name]
        if slots:
            return slots[-1]
        _check(name in ROOTS, "an input")
        return ROOTS.index(name)

    def _type(self, name: str) -> Node:
        _check(type(name) is str and name in TYPE_NAMES, "a type")
        return self.constant(TYPE_NAMES[name])

    # -- selection -----------------------------------------------------------------------------

    def _select(self, target: Any, field: str) -> Node:
        _check(type(field) is str, "a field")
        names = [field]
        while type(target) is list and len(target) == 3 and target[0] == "select":
            _check(type(target[2]) is str, "a field")
            names.append(target[2])
            target = target[1]
        names.reverse()
        if type(target) is list and len(target) == 2 and target[0] == "var":
            _check(type(target[1]) is str, "a name")
            return frame_path(self.resolve(target[1]), tuple(names)), None
        base, probe = self.node(target)
        return path(base, tuple(names)), probe

    def _index(self, target: Any, key: Any) -> Node:
        (of, p1), (at, p2) = self.node(target), self.node(key)
        return (lambda frame: index(of(frame), at(frame))), probes(p1, p2)

    def _has(self, forms: Any) -> Node:
        parts = self.nodes(forms)
        _check(len(parts) > 0, "has() of something")
        first, rest = parts[0][0], [run for run, _ in parts[1:]]

        def has(frame: list[Any]) -> Any:
            found = first(frame)
            for part in rest:
                part(frame)
            return type(found) is not Err

        return has, probes(*(p for _, p in parts))

    def _dyn(self, forms: Any) -> Node:
        parts = self.nodes(forms)
        _check(len(parts) > 0, "dyn() of something")
        if len(parts) == 1:
            return parts[0]
        first, rest = parts[0][0], [run for run, _ in parts[1:]]

        def dyn(frame: list[Any]) -> Any:
            found = first(frame)
            for part in rest:
                part(frame)
            return found

        return dyn, probes(*(p for _, p in parts))

    # -- logic ---------------------------------------------------------------------------------

    def _and(self, left: Any, right: Any) -> Node:
        return self._logic("and", left, right)

    def _or(self, left: Any, right: Any) -> Node:
        return self._logic("or", left, right)

    def _logic(self, op: str, left: Any, right: Any) -> Node:
        # a && b && c is ((a && b) && c): its operands, flattened, evaluated left to right.
        operands = [right]
        while type(left) is list and len(left) == 3 and left[0] == op:
            operands.append(left[2])
            left = left[1]
        operands.append(left)
        parts = [self.shared(f) for f in reversed(operands)]
        return chain(op == "or", parts, self.undumpable), probes(*(p for _, p in parts))

    def shared(self, form: Any) -> Node:
        """The node of an operand of && or ||: outside macros, where it reads only the inputs,
        its result is kept in the frame's memo, for every program of the change that has the
        same operand (guards like `change.kind == "organization"` repeat across policies)."""
        run, probe = self.node(form)
        if self.scope or form[0] in _LITERALS or form[0] in ("var", "type"):
            return run, probe
        key = SHARED.setdefault(repr((self.undumpable, form)), len(SHARED))
        return memoized(key, run, probe)

    def _cond(self, test: Any, then: Any, otherwise: Any) -> Node:
        (c, pc), (a, pa), (b, pb) = self.node(test), self.node(then), self.node(otherwise)

        def choose(frame: list[Any]) -> Any:
            found = c(frame)
            if truthy(found):
                left, right = a(frame), False
            else:
                left, right = False, b(frame)
            if type(found) is bool:
                return left if found else right
            return no_overload("_?_:_", found, left, right)

        if pc is None and pa is None and pb is None:
            return choose, None

        def probe(frame: list[Any]) -> None:
            branch = pa if truthy(c(frame)) else pb
            if branch is not None:
                branch(frame)

        return choose, probe

    def _not(self, operand: Any) -> Node:
        x, probe = self.node(operand)
        return self.folded(lambda frame: logical_not(x(frame)), probe, x)

    def _neg(self, operand: Any) -> Node:
        x, probe = self.node(operand)
        return self.folded(lambda frame: negate(x(frame)), probe, x)

    # -- operators -----------------------------------------------------------------------------

    def _relation(self, rule: str, left: Any, right: Any) -> Node:
        _check(rule in _RELATIONS, "a relation")
        (a, pa), (b, pb) = self.node(left), self.node(right)
        apply = relation(rule)
        run = fast_relation(rule, a, self.constants.get(b, MISSING)) or (
            lambda frame: apply(a(frame), b(frame))
        )
        return self.folded(run, probes(pa, pb), a, b)

    def _arithmetic(self, rule: str, left: Any, right: Any) -> Node:
        _check(rule in _ARITHMETIC, "an arithmetic operator")
        (a, pa), (b, pb) = self.node(left), self.node(right)
        apply = arithmetic(rule, undumpable=self.undumpable)

        def run(frame: list[Any]) -> Any:
            return apply(a(frame), b(frame))

        # Repeating a huge string or list raises MemoryError in celpy.
        return self.folded(run, run if rule == "multiplication_mul" else probes(pa, pb), a, b)

    def _call(self, name: str, forms: Any) -> Node:
        _check(type(name) is str and name in FUNCTIONS, "a function")
        parts = self.nodes(forms)
        runs = [run for run, _ in parts]
        run = fast_call(name, runs, forms) or (lambda frame: call(name, [r(frame) for r in runs]))
        # int(), uint() and double() of an infinity or a huge int raise OverflowError in celpy.
        return self.folded(run, run if name in RAISING else probes(*(p for _, p in parts)), *runs)

    def _list(self, forms: Any) -> Node:
        parts = self.nodes(forms)
        runs = [run for run, _ in parts]
        run = lambda frame: list_of([r(frame) for r in runs])  # noqa: E731
        return self.folded(run, probes(*(p for _, p in parts)), *runs)

    def _map(self, forms: Any) -> Node:
        parts = self.nodes(forms)
        _check(len(parts) % 2 == 0, "a map of pairs")
        runs = [run for run, _ in parts]

        def made(frame: list[Any]) -> Any:
            found = [r(frame) for r in runs]
            return map_of(list(zip(found[0::2], found[1::2], strict=True)))

        return made, probes(*(p for _, p in parts))

    # -- macros --------------------------------------------------------------------------------

    def _macro(self, name: str, target: Any, variable: str, body: Any) -> Node:
        _check(name in MACROS and type(variable) is str, "a macro")
        over, _ = self.node(target)
        slot = FIRST_SLOT + self.slots
        self.slots += 1
        self.scope.append((variable, slot))
        try:
            expr, probe = self.node(body)
        finally:
            self.scope.pop()
        if name in ("all", "exists"):
            folded = fold(name == "exists", over, slot, expr, self.undumpable)
            return folded, fold_probe(over, slot, probe)
        run = strict(name, over, slot, expr)
        return run, run  # an error of the expression raises: only evaluating says


_METHODS: Final[dict[str, Callable[..., Node]]] = {f: getattr(_Builder, f"_{f}") for f in _FORMS}


def _literal(kind: type, convert: Callable[[Any], Any]) -> Callable[[list[Any]], Any]:
    def make(args: list[Any]) -> Any:
        _check(len(args) == 1 and type(args[0]) is kind, "a literal")
        return convert(args[0])

    return make


def _null(args: list[Any]) -> Any:
    _check(not args, "null")
    return None


_LITERALS: Final[dict[str, Callable[[list[Any]], Any]]] = {
    "int": _literal(int, int),
    "uint": _literal(int, Uint),
    "double": _literal(str, float.fromhex),
    "string": _literal(str, str),
    "bytes": _literal(str, bytes.fromhex),
    "bool": _literal(bool, bool),
    "null": _null,
    "error": _literal(str, Err),
}

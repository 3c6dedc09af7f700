"""The intermediate form of a policy (policy.lowering) compiled into Python closures, once per
expression: evaluating one is a few function calls over the plain JSON of a change, with no
conversion to celpy's types and no tree walked. No celpy here.

celpy's evaluation is kept exactly (policy.values says how): every operand of `&&`, `||` and
of a function is evaluated, because an error celpy raises rather than returns (a `map` whose
expression fails; a macro over a value that is not a list) is not absorbed. Only an operand
that cannot raise one (`pure`: no macro, no numeric conversion) is skipped once the other
has decided, which is what keeps a guard like `change.kind == "organization" && ...` cheap.

`build` checks the form strictly (`BadForm`): a form read back from the cache that is not one
this module makes is never run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from reconciler.policy.lowering import MACROS, ROOTS
from reconciler.policy.operations import (
    FUNCTIONS,
    RAISING,
    arithmetic,
    call,
    index,
    list_of,
    logical_not,
    map_of,
    negate,
    relation,
    truthy,
)
from reconciler.policy.values import (
    NO_OVERLOAD,
    TYPE_NAMES,
    Defer,
    Err,
    Fatal,
    L,
    M,
    Uint,
    no_member,
    no_overload,
    not_selectable,
    tag,
)

Closure = Callable[[list[Any]], Any]
MISSING: Final = object()  # an input the caller did not give: celpy's error, not ours to word
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
    """An expression as a closure over a frame: the inputs (change, env, plan), then one slot
    per macro variable."""

    run: Closure
    slots: int

    def __call__(self, inputs: Mapping[str, Any]) -> Any:
        """The value of the expression (an Err for an error); Defer when celpy must say."""
        frame = [inputs.get(name, MISSING) for name in ROOTS]
        frame.extend([None] * self.slots)
        try:
            return self.run(frame)
        except Fatal as exc:
            return exc.err


def build(form: Any) -> Compiled:
    """The closure of a form; BadForm when `form` is not one policy.lowering makes."""
    builder = _Builder()
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


def _constant(value: Any) -> tuple[Closure, bool]:
    return (lambda frame: value), True


class _Builder:
    def __init__(self) -> None:
        self.scope: list[tuple[str, int]] = []  # macro variables and their slots, innermost last
        self.slots = 0

    def node(self, form: Any) -> tuple[Closure, bool]:
        """The closure of `form`, and whether it is pure (can raise no error of celpy's)."""
        _check(type(form) is list and len(form) > 0 and type(form[0]) is str, "a form")
        op, args = form[0], form[1:]
        literal = _LITERALS.get(op)
        if literal is not None:
            return _constant(literal(args))
        _check(op in _FORMS, f"the form {op!r}")
        method: Callable[..., tuple[Closure, bool]] = getattr(self, f"_{op}")
        return method(*args)

    def nodes(self, forms: Any) -> list[tuple[Closure, bool]]:
        _check(type(forms) is list, "a list of forms")
        return [self.node(f) for f in forms]

    # -- names ---------------------------------------------------------------------------------

    def _var(self, name: str) -> tuple[Closure, bool]:
        _check(type(name) is str, "a name")
        slots = [slot for bound, slot in self.scope if bound == name]
        if slots:
            at = slots[-1]
            return (lambda frame: frame[at]), True
        _check(name in ROOTS, f"the input {name!r}")
        root_at = ROOTS.index(name)

        def root(frame: list[Any]) -> Any:
            value = frame[root_at]
            if value is MISSING:
                raise Defer
            return value

        return root, True

    def _type(self, name: str) -> tuple[Closure, bool]:
        _check(type(name) is str and name in TYPE_NAMES, "a type")
        return _constant(TYPE_NAMES[name])

    # -- selection -----------------------------------------------------------------------------

    def _select(self, target: Any, field: str) -> tuple[Closure, bool]:
        _check(type(field) is str, "a field")
        names = [field]
        while type(target) is list and len(target) == 3 and target[0] == "select":
            _check(type(target[2]) is str, "a field")
            names.append(target[2])
            target = target[1]
        names.reverse()
        base, pure = self.node(target)
        return _path(base, tuple(names)), pure

    def _index(self, target: Any, key: Any) -> tuple[Closure, bool]:
        (of, p1), (at, p2) = self.node(target), self.node(key)
        return (lambda frame: index(of(frame), at(frame))), p1 and p2

    def _has(self, forms: Any) -> tuple[Closure, bool]:
        parts = self.nodes(forms)
        _check(len(parts) > 0, "has() of something")
        first, rest = parts[0][0], [p for p, _ in parts[1:]]

        def has(frame: list[Any]) -> Any:
            found = first(frame)
            for part in rest:
                part(frame)
            return type(found) is not Err

        return has, all(pure for _, pure in parts)

    def _dyn(self, forms: Any) -> tuple[Closure, bool]:
        parts = self.nodes(forms)
        _check(len(parts) > 0, "dyn() of something")
        if len(parts) == 1:
            return parts[0]
        first, rest = parts[0][0], [p for p, _ in parts[1:]]

        def dyn(frame: list[Any]) -> Any:
            found = first(frame)
            for part in rest:
                part(frame)
            return found

        return dyn, all(pure for _, pure in parts)

    # -- logic ---------------------------------------------------------------------------------

    def _and(self, left: Any, right: Any) -> tuple[Closure, bool]:
        (a, pa), (b, pb) = self.node(left), self.node(right)

        def both(frame: list[Any]) -> Any:
            x = a(frame)
            if x is False and pb:
                return False
            return _and(x, b(frame))

        return both, pa and pb

    def _or(self, left: Any, right: Any) -> tuple[Closure, bool]:
        (a, pa), (b, pb) = self.node(left), self.node(right)

        def either(frame: list[Any]) -> Any:
            x = a(frame)
            if x is True and pb:
                return True
            return _or(x, b(frame))

        return either, pa and pb

    def _cond(self, test: Any, then: Any, otherwise: Any) -> tuple[Closure, bool]:
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

        return choose, pc and pa and pb

    def _not(self, operand: Any) -> tuple[Closure, bool]:
        x, pure = self.node(operand)
        return (lambda frame: logical_not(x(frame))), pure

    def _neg(self, operand: Any) -> tuple[Closure, bool]:
        x, pure = self.node(operand)
        return (lambda frame: negate(x(frame))), pure

    # -- operators -----------------------------------------------------------------------------

    def _relation(self, rule: str, left: Any, right: Any) -> tuple[Closure, bool]:
        _check(rule in _RELATIONS, "a relation")
        (a, pa), (b, pb) = self.node(left), self.node(right)
        apply = relation(rule)
        fast = _fast_relation(rule, a, right)
        if fast is not None:
            return fast, pa and pb
        return (lambda frame: apply(a(frame), b(frame))), pa and pb

    def _arithmetic(self, rule: str, left: Any, right: Any) -> tuple[Closure, bool]:
        _check(rule in _ARITHMETIC, "an arithmetic operator")
        (a, pa), (b, pb) = self.node(left), self.node(right)
        apply = arithmetic(rule)
        # Repetition of a huge string or list raises MemoryError in celpy: never skipped.
        pure = pa and pb and rule != "multiplication_mul"
        return (lambda frame: apply(a(frame), b(frame))), pure

    def _call(self, name: str, forms: Any) -> tuple[Closure, bool]:
        _check(type(name) is str and name in FUNCTIONS, "a function")
        parts = self.nodes(forms)
        runs = [p for p, _ in parts]
        pure = all(p for _, p in parts) and name not in RAISING
        fast = _fast_call(name, runs, forms)
        if fast is not None:
            return fast, pure
        return (lambda frame: call(name, [r(frame) for r in runs])), pure

    def _list(self, forms: Any) -> tuple[Closure, bool]:
        parts = self.nodes(forms)
        runs = [p for p, _ in parts]
        if all(type(f) is list and f[0] in _LITERALS for f in forms):
            made = list_of([r([]) for r in runs])
            return _constant(made)
        return (lambda frame: list_of([r(frame) for r in runs])), all(p for _, p in parts)

    def _map(self, forms: Any) -> tuple[Closure, bool]:
        parts = self.nodes(forms)
        _check(len(parts) % 2 == 0, "a map of pairs")
        runs = [p for p, _ in parts]

        def made(frame: list[Any]) -> Any:
            found = [r(frame) for r in runs]
            return map_of(list(zip(found[0::2], found[1::2], strict=True)))

        return made, all(p for _, p in parts)

    # -- macros --------------------------------------------------------------------------------

    def _macro(self, name: str, target: Any, variable: str, body: Any) -> tuple[Closure, bool]:
        _check(name in MACROS and type(variable) is str, "a macro")
        over, _ = self.node(target)
        slot = len(ROOTS) + self.slots
        self.slots += 1
        self.scope.append((variable, slot))
        try:
            expr, _ = self.node(body)
        finally:
            self.scope.pop()
        return _MACROS[name](over, slot, expr), False


def _members(value: Any) -> list[Any]:
    kind = tag(value)
    if kind == L:
        return value  # type: ignore[no-any-return]
    if kind == M:
        return list(value)
    raise Defer  # celpy iterates a string's characters, and fails on the rest with TypeError


def _fold(deciding: bool) -> Callable[[Closure, int, Closure], Closure]:
    """all() (deciding False) or exists() (True): celpy folds every result, errors included,
    with && or ||, an error of its own when neither side is a bool."""

    def make(over: Closure, slot: int, expr: Closure) -> Closure:
        def fold(frame: list[Any]) -> Any:
            found = over(frame)
            if type(found) is Err:
                return found
            acc: Any = not deciding
            for member in _members(found):
                frame[slot] = member
                try:
                    result = expr(frame)
                except Fatal as exc:
                    result = exc.err
                acc = _join(acc, result, deciding, Err(NO_OVERLOAD))
            return acc

        return fold

    return make


def _strict(kind: str) -> Callable[[Closure, int, Closure], Closure]:
    """map(), filter() and exists_one(): an error of the expression is raised (Fatal)."""

    def make(over: Closure, slot: int, expr: Closure) -> Closure:
        def each(frame: list[Any]) -> Any:
            found = over(frame)
            if type(found) is Err:
                return found
            results: list[Any] = []
            count = 0
            for member in _members(found):
                frame[slot] = member
                result = expr(frame)
                if type(result) is Err:
                    raise Fatal(result)
                if kind == "map":
                    results.append(result)
                elif truthy(result):
                    results.append(member)
                    count += 1
            if kind == "exists_one":
                return count == 1
            return results

        return each

    return make


_MACROS: Final = {
    "all": _fold(False),
    "exists": _fold(True),
    "map": _strict("map"),
    "filter": _strict("filter"),
    "exists_one": _strict("exists_one"),
}


def _join(x: Any, y: Any, deciding: bool, neither: Any) -> Any:
    """celpy's logical_and (deciding False) or logical_or (True): a side that is the deciding
    bool decides, whatever the other is; `neither` when no side is a bool."""
    xb, yb = type(x) is bool, type(y) is bool
    if xb and yb:
        return (x or y) if deciding else (x and y)
    if not xb and not yb:
        return neither() if callable(neither) else neither
    if xb:
        return x if x is deciding else y
    return y if y is deciding else x


def _and(x: Any, y: Any) -> Any:
    return _join(x, y, False, lambda: no_overload("_&&_", x, y))


def _or(x: Any, y: Any) -> Any:
    return _join(x, y, True, lambda: no_overload("_||_", x, y))


def _path(base: Closure, names: tuple[str, ...]) -> Closure:
    """`base.a.b.c` in one closure: map lookups, the first failure as celpy words it."""

    def walk(frame: list[Any]) -> Any:
        value = base(frame)
        for name in names:
            if type(value) is dict:
                if name in value:
                    value = value[name]
                else:
                    return no_member(name)
            elif type(value) is Err:
                return value
            else:
                tag(value)
                return not_selectable(value)
        return value

    return walk


def _fast_relation(rule: str, a: Closure, right: Any) -> Closure | None:
    """`x == "literal"`, `x != "literal"` and `x in ["literal", ...]` for a string x, without
    the general dispatch (any other x takes it)."""
    apply = relation(rule)
    if rule in ("relation_eq", "relation_ne") and right[0] == "string":
        text = right[1]
        equal = rule == "relation_eq"

        def compare(frame: list[Any]) -> Any:
            x = a(frame)
            if type(x) is str:
                return (x == text) is equal
            return apply(x, text)

        return compare
    items = right[1] if right[0] == "list" else None
    if rule == "relation_in" and items and all(i[0] == "string" for i in items):
        texts = [i[1] for i in items]
        members = frozenset(texts)

        def member(frame: list[Any]) -> Any:
            x = a(frame)
            if type(x) is str:
                return x in members
            return apply(x, texts)

        return member
    return None


def _fast_call(name: str, runs: list[Closure], forms: list[Any]) -> Closure | None:
    """`x.startsWith("literal")` and `x.endsWith("literal")` for a string x."""
    if name not in ("startsWith", "endsWith") or len(forms) != 2 or forms[1][0] != "string":
        return None
    receiver, text = runs[0], forms[1][1]
    method = str.startswith if name == "startsWith" else str.endswith

    def affix(frame: list[Any]) -> Any:
        x = receiver(frame)
        if type(x) is str:
            return method(x, text)
        return call(name, [x, text])

    return affix


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

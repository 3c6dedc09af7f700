"""The closures a compiled policy is made of (policy.closures builds them): the frame they read,
chains of `&&` and `||`, the macros, paths of field selections, the memo of operands shared by
the programs of a change, and fast paths for a comparison with a constant. Each keeps celpy's
semantics (policy.values); each node's probe raises exactly when its evaluation would."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import Any, Final

from reconciler.policy.functions import call
from reconciler.policy.operations import relation, truthy
from reconciler.policy.values import (
    NO_OVERLOAD,
    ROOTS,
    Defer,
    Err,
    Fatal,
    L,
    M,
    no_member,
    no_overload,
    not_selectable,
    tag,
)

Closure = Callable[[list[Any]], Any]
Probe = Closure | None  # None: the node cannot raise
Node = tuple[Closure, Probe]
MISSING: Final = object()  # an input the caller did not give: celpy's error, not ours to word
_MEMO: Final = len(ROOTS)  # the frame's memo: operand's key -> its value, or what it raised
FIRST_SLOT: Final = _MEMO + 1
SHARED: dict[str, int] = {}  # an operand's form (its repr) -> its key, in every program


def frame_of(inputs: Mapping[str, Any], slots: int) -> list[Any]:
    """The frame of `inputs`: the inputs, the memo of what operands shared by programs gave,
    and room for `slots` macro variables. The programs of one change share it."""
    return [*(inputs.get(name, MISSING) for name in ROOTS), {}, *([None] * slots)]


def probes(*probes: Probe) -> Probe:
    """The probe of a node that raises only through its operands (evaluated in order)."""
    found = [p for p in probes if p is not None]
    if not found:
        return None
    if len(found) == 1:
        return found[0]

    def each(frame: list[Any]) -> None:
        for probe in found:
            probe(frame)

    return each


def root(at: int) -> Closure:
    def root(frame: list[Any]) -> Any:
        value = frame[at]
        if value is MISSING:
            raise Defer
        return value

    return root


class _Raised:
    """What an operand raised, kept in the memo: raised again for the next program."""

    __slots__ = ("err",)

    def __init__(self, err: Err | None) -> None:
        self.err = err  # None: Defer

    def again(self) -> BaseException:
        return Defer() if self.err is None else Fatal(self.err)


def memoized(key: int, run: Closure, probe: Probe) -> Node:
    def remembered(frame: list[Any]) -> Any:
        memo = frame[_MEMO]
        found = memo.get(key, MISSING)
        if found is MISSING:
            try:
                found = memo[key] = run(frame)
            except Fatal as exc:
                memo[key] = _Raised(exc.err)
                raise
            except Defer:
                memo[key] = _Raised(None)
                raise
        elif type(found) is _Raised:
            raise found.again()
        return found

    if probe is None:
        return remembered, None

    def probed(frame: list[Any]) -> None:
        found = frame[_MEMO].get(key, MISSING)
        if found is MISSING:
            probe(frame)
        elif type(found) is _Raised:
            raise found.again()

    return remembered, probed


def _members(value: Any) -> list[Any]:
    kind = tag(value)
    if kind == L:
        return value  # type: ignore[no-any-return]
    if kind == M:
        return list(value)
    raise Defer  # celpy iterates a string's characters, and fails on the rest with TypeError


def fold(deciding: bool, over: Closure, slot: int, expr: Closure, undumpable: bool) -> Closure:
    """all() (deciding False) or exists() (True): celpy folds every result, errors included,
    with && or || (its own error when neither side is a bool), and absorbs what the expression
    raises."""

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
            if type(result) is bool and type(acc) is bool:
                acc = (acc or result) if deciding else (acc and result)
            else:
                acc = _join(acc, result, deciding, Err(NO_OVERLOAD), undumpable)
        return acc

    return fold


def fold_probe(over: Closure, slot: int, probe: Probe) -> Closure:
    """What raises when all() or exists() would: its receiver, a receiver that is not a list or
    a map, or what the expression raises other than an error of CEL's."""

    def fold(frame: list[Any]) -> None:
        found = over(frame)
        kind = type(found)
        if kind is Err:
            return
        members = found if kind is list else _members(found)
        if probe is None:
            return
        for member in members:
            frame[slot] = member
            with suppress(Fatal):
                probe(frame)

    return fold


def strict(name: str, over: Closure, slot: int, expr: Closure) -> Closure:
    """map(), filter() and exists_one(): an error of the expression is raised (Fatal)."""

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
            if name == "map":
                results.append(result)
            elif truthy(result):
                results.append(member)
                count += 1
        if name == "exists_one":
            return count == 1
        return results

    return each


def _join(x: Any, y: Any, deciding: bool, neither: Any, undumpable: bool) -> Any:
    """celpy's logical_and (deciding False) or logical_or (True): a side that is the deciding
    bool decides, whatever the other is; `neither` when no side is a bool (celpy then prints
    both sides in a message it does not show: an error it cannot print raises there)."""
    xb, yb = type(x) is bool, type(y) is bool
    if xb and yb:
        return (x or y) if deciding else (x and y)
    if not xb and not yb:
        if undumpable and (type(x) is Err or type(y) is Err):
            raise Defer
        return neither
    if xb:
        return x if x is deciding else y
    return y if y is deciding else x


def chain(deciding: bool, parts: list[Node], undumpable: bool) -> Closure:
    """`a && b && ...` (deciding False) or `a || b || ...` (True), left to right: once the
    result is the deciding bool, the other operands are only probed."""
    first = parts[0][0]
    # Each later operand, with the probes of it and of those after it.
    rest = [
        (run, tuple(p for _, p in parts[i:] if p is not None))
        for i, (run, _) in enumerate(parts[1:], start=1)
    ]
    name = "_||_" if deciding else "_&&_"

    def chain(frame: list[Any]) -> Any:
        acc = first(frame)
        for run, probes in rest:
            if acc is deciding:
                for probe in probes:
                    probe(frame)
                return acc
            found = run(frame)
            if type(acc) is bool and type(found) is bool:
                acc = found
            else:
                acc = _join(acc, found, deciding, no_overload(name, acc, found), undumpable)
        return acc

    return chain


def frame_path(at: int, names: tuple[str, ...]) -> Closure:
    """`variable.a.b`: the same as path, reading the variable from the frame."""
    if len(names) == 1:
        (name,) = names

        def field(frame: list[Any]) -> Any:
            value = frame[at]
            if type(value) is dict:
                found = value.get(name, MISSING)
                return no_member(name) if found is MISSING else found
            return _walk(value, names)

        return field

    def walk(frame: list[Any]) -> Any:
        return _walk(frame[at], names)

    return walk


def _walk(value: Any, names: tuple[str, ...]) -> Any:
    if value is MISSING:
        raise Defer
    for name in names:
        if type(value) is dict:
            found = value.get(name, MISSING)
            if found is MISSING:
                return no_member(name)
            value = found
        elif type(value) is Err:
            return value
        else:
            tag(value)
            return not_selectable(value)
    return value


def path(base: Closure, names: tuple[str, ...]) -> Closure:
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


_PLAIN: Final = (str, int, float, bool)  # a relation between two of one of these is Python's


def fast_relation(rule: str, a: Closure, constant: Any) -> Closure | None:
    """`x <op> constant` and `x in [constant, ...]`: Python's own operator when x has the
    constant's type among str, int, double and bool (where celpy's is the same), the general
    dispatch otherwise."""
    if constant is MISSING:
        return None
    apply = relation(rule)
    kind = type(constant)
    if rule != "relation_in" and kind in _PLAIN:
        op = _OPERATORS[rule]

        def compare(frame: list[Any]) -> Any:
            x = a(frame)
            if type(x) is kind:
                return op(x, constant)
            return apply(x, constant)

        return compare
    texts = kind is list and constant and all(type(c) is str for c in constant)
    if rule == "relation_in" and texts:
        members = frozenset(constant)

        def member(frame: list[Any]) -> Any:
            x = a(frame)
            if type(x) is str:
                return x in members
            return apply(x, constant)

        return member
    return None


_OPERATORS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "relation_eq": operator.eq,
    "relation_ne": operator.ne,
    "relation_lt": operator.lt,
    "relation_le": operator.le,
    "relation_gt": operator.gt,
    "relation_ge": operator.ge,
}


def fast_call(name: str, runs: list[Closure], forms: list[Any]) -> Closure | None:
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

"""CEL's operators over policy.values, as celpy evaluates them (its functions are
policy.functions'): relations and `in`, arithmetic, `!` and `-`, field selection and
indexing, list and map literals. Each takes values (an `Err` among them) and returns a value
or an `Err`; `Defer` where celpy's answer is not one this domain holds (see policy.values)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from reconciler.policy.compare import ORDER, py_eq, py_ne, py_order
from reconciler.policy.values import (
    DIVIDE,
    NO_OVERLOAD,
    NUMERIC,
    STRINGS,
    B,
    D,
    Defer,
    Err,
    I,
    Kind,
    L,
    M,
    Mismatch,
    P,
    PlainStr,
    S,
    T,
    U,
    Y,
    duplicate_key,
    int_result,
    no_member,
    no_overload,
    not_selectable,
    overload,
    string_keys,
    tag,
)

# -- relations ---------------------------------------------------------------------------------


def relation(rule: str) -> Callable[[Any, Any], Any]:
    """The function of a relation (`relation_eq`, ..., `relation_in`) over two values."""
    if rule == "relation_in":
        return is_in
    if rule == "relation_eq":
        compare: Callable[[Any, Any], bool] = py_eq
    elif rule == "relation_ne":
        compare = py_ne
    else:
        op = ORDER[rule]

        def compare(a: Any, b: Any) -> bool:
            return py_order(op, a, b)

    def apply(a: Any, b: Any) -> Any:
        if type(a) is Err:
            return a
        if type(b) is Err:
            return b
        try:
            return compare(a, b)
        except Mismatch:
            return overload(rule, a, b)

    return apply


def is_in(item: Any, container: Any) -> Any:
    """`item in container`: celpy compares each member (on the left) with the item, and an
    incomparable member is an error only if none is equal."""
    if type(item) is Err:
        return item
    if type(container) is Err:
        return container
    tc = tag(container)
    members: Iterable[Any]
    if tc in (L, M):
        members = container
    elif tc in STRINGS:
        members = (PlainStr(c) for c in container)
    elif tc == Y:
        raise Defer  # its members are Python ints
    else:
        return overload("relation_in", item, container)
    found: Any = False
    for member in members:
        try:
            if py_eq(member, item):
                return True
        except Mismatch:
            found = Err(NO_OVERLOAD)
    return found


# -- arithmetic --------------------------------------------------------------------------------

_INTEGRAL: Final = frozenset("IUB")


def _go_div(a: int, b: int) -> int:
    sign = (-1 if a < 0 else 1) * (-1 if b < 0 else 1)
    return sign * (abs(a) // abs(b))


def _go_mod(a: int, b: int) -> int:
    return (-1 if a < 0 else 1) * (abs(a) % abs(b))


def arithmetic(rule: str, *, undumpable: bool = False) -> Callable[[Any, Any], Any]:
    """The function of `+ - * / %` (`addition_add`, ...) over two values. `undumpable`: an
    error of the expression may have a tree celpy fails to print (policy.lowering), which
    IntType's division by it does."""
    compute = _ARITHMETIC[rule]

    def apply(a: Any, b: Any) -> Any:
        if type(a) is Err:
            return a  # CELEvalError's operators return itself
        ta = tag(a)
        if type(b) is Err:
            if undumpable and ta == I and rule == "multiplication_div":
                raise Defer
            # IntType's and UintType's own operators fail on it; others leave it to the error.
            if ta in "IU" or (ta == D and rule in ("multiplication_div", "multiplication_mod")):
                return overload(rule, a, b)
            if ta in STRINGS | {Y} and rule == "multiplication_mod":
                raise Defer  # Python's string formatting
            return b
        found = compute(ta, tag(b), a, b)
        if found is None:
            return overload(rule, a, b)
        return found

    return apply


def _add(ta: str, tb: str, a: Any, b: Any) -> Any:
    if ta in "IU" and tb in _INTEGRAL:
        return int_result(int(a) + int(b), ta)
    if ta in STRINGS and tb in STRINGS:
        return PlainStr(str.__add__(a, b))
    if (ta in "BD" and tb in NUMERIC) or (ta == tb and ta in "LY"):
        raise Defer  # Python's own int, float, list or bytes
    return None


def _sub(ta: str, tb: str, a: Any, b: Any) -> Any:
    if ta in "IU" and tb in _INTEGRAL:
        return int_result(int(a) - int(b), ta)
    if ta in "BD" and tb in NUMERIC:
        raise Defer
    return None


def _mul(ta: str, tb: str, a: Any, b: Any) -> Any:
    if ta in "IU" and tb in _INTEGRAL:
        return int_result(int(a) * int(b), ta)
    if ta in "BD" and tb in NUMERIC:
        raise Defer
    if (ta in "SPLY" and tb in _INTEGRAL) or (ta == B and tb in "SPLY"):
        raise Defer  # repetition, as Python's own str, list or bytes
    return None


def _div(ta: str, tb: str, a: Any, b: Any) -> Any:
    if ta == I and tb in _INTEGRAL:
        if b == 0:
            return Err(DIVIDE)
        return int_result(_go_div(a, int(b)), I)
    if ta == U and tb in _INTEGRAL:
        if b == 0:
            return Err(DIVIDE)
        return int_result(int(a) // int(b), U)
    if ta == D and tb == D:
        return float("inf") if b == 0.0 else a / b
    if tb == D and ta not in "IUD":
        if ta == B:
            raise Defer
        return float("inf") if b == 0.0 else None  # DoubleType.__rtruediv__
    if (ta == I and tb == D) or (ta == D and tb == B) or (ta == B and tb in _INTEGRAL):
        raise Defer
    return None


def _mod(ta: str, tb: str, a: Any, b: Any) -> Any:
    if ta == I and tb in _INTEGRAL:
        if b == 0:
            return Err(DIVIDE)
        return int_result(_go_mod(a, int(b)), I)
    if ta == U and tb in _INTEGRAL:
        if b == 0:
            return Err(DIVIDE)
        return int_result(int(a) % int(b), U)
    if ta in "SPY" or (ta == I and tb == D) or (ta == B and tb in "IUB"):
        raise Defer  # Python's string formatting; IntType's float arithmetic; Python's ints
    return None


_ARITHMETIC: Final[dict[str, Callable[[str, str, Any, Any], Any]]] = {
    "addition_add": _add,
    "addition_sub": _sub,
    "multiplication_mul": _mul,
    "multiplication_div": _div,
    "multiplication_mod": _mod,
}


def negate(a: Any) -> Any:
    """Unary `-`."""
    if type(a) is Err:
        return a
    ta = tag(a)
    if ta == I:
        return int_result(-a, I)
    if ta == D:
        return -a
    return overload("unary_neg", a)


def logical_not(a: Any) -> Any:
    """Unary `!`."""
    if type(a) is Err:
        return a
    if type(a) is bool:
        return not a
    return overload("unary_not", a)


# -- selection and indexing --------------------------------------------------------------------


def select(value: Any, name: str) -> Any:
    """`value.name`: a map's entry, else an error."""
    if type(value) is dict:
        try:
            return value[name]
        except KeyError:
            return no_member(name)
    if type(value) is Err:
        return value
    tag(value)
    return not_selectable(value)


def index(value: Any, key: Any) -> Any:
    """`value[key]` (Python's getitem over celpy's classes, with no check of either)."""
    tv = tag(value) if type(value) is not Err else "E"
    tk = tag(key) if type(key) is not Err else "E"
    if tv == M:
        if tk in STRINGS or tk in _INTEGRAL:
            string_keys(value)
            try:
                return value[key] if tk in STRINGS else _absent(value, key)
            except KeyError:
                return Err("no such key")
    elif tv in (L, S, P) and tk in _INTEGRAL:
        try:
            found = value[key]
        except IndexError:
            return Err("invalid_argument")
        return PlainStr(found) if tv != L else found
    elif tv in (Y, T):
        raise Defer  # bytes give Python ints; a type's [] is a generic alias
    return no_overload("_[_]", value, key)


def _absent(mapping: dict[str, Any], key: Any) -> Any:
    # An int, uint or bool key in a map of string keys: no key is equal to it.
    raise KeyError(key)


# -- literals ----------------------------------------------------------------------------------


def list_of(values: list[Any]) -> Any:
    """A list literal: its first error, else the list."""
    for value in values:
        if type(value) is Err:
            return value
    return values


def map_of(pairs: list[tuple[Any, Any]]) -> Any:
    """A map literal; Defer unless every key is a string and no value an error (celpy keeps
    errors and keys of any type in its maps, with rules of their own)."""
    made: dict[Any, Any] = {}
    for key, value in pairs:
        if type(key) not in (str, PlainStr) or type(value) is Err:
            raise Defer
        tag(value)
        if key in made:
            return duplicate_key(key)
        made[key] = value
    return made


def truthy(value: Any) -> bool:
    """Python's truth of a celpy value (its ternary and `filter`/`exists_one` use it)."""
    if type(value) is Kind or type(value) is Err:
        return True
    return bool(value)

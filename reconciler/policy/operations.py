"""CEL's operators and standard functions over policy.values, as celpy evaluates them: each
takes values (an `Err` among them) and returns a value or an `Err`; `Defer` where celpy's
answer is not one this domain holds (see policy.values)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from reconciler.policy.values import (
    DIVIDE,
    INT64,
    NO_OVERLOAD,
    NUMERIC,
    ORDER,
    OVERFLOW,
    STRINGS,
    UINT64,
    B,
    D,
    Defer,
    Err,
    I,
    Kind,
    L,
    M,
    Mismatch,
    N,
    P,
    PlainStr,
    S,
    T,
    U,
    Uint,
    Y,
    cel_str,
    duplicate_key,
    float_to_int,
    in_range,
    kind_of,
    no_member,
    no_overload,
    not_selectable,
    overload,
    py_eq,
    py_ne,
    py_order,
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


def _int_result(value: int, kind: str) -> Any:
    if kind == I:
        return value if in_range(value, INT64) else Err(OVERFLOW)
    return Uint(value) if in_range(value, UINT64) else Err(OVERFLOW)


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
        return _int_result(int(a) + int(b), ta)
    if ta in STRINGS and tb in STRINGS:
        return PlainStr(str.__add__(a, b))
    if (ta in "BD" and tb in NUMERIC) or (ta == tb and ta in "LY"):
        raise Defer  # Python's own int, float, list or bytes
    return None


def _sub(ta: str, tb: str, a: Any, b: Any) -> Any:
    if ta in "IU" and tb in _INTEGRAL:
        return _int_result(int(a) - int(b), ta)
    if ta in "BD" and tb in NUMERIC:
        raise Defer
    return None


def _mul(ta: str, tb: str, a: Any, b: Any) -> Any:
    if ta in "IU" and tb in _INTEGRAL:
        return _int_result(int(a) * int(b), ta)
    if ta in "BD" and tb in NUMERIC:
        raise Defer
    if (ta in "SPLY" and tb in _INTEGRAL) or (ta == B and tb in "SPLY"):
        raise Defer  # repetition, as Python's own str, list or bytes
    return None


def _div(ta: str, tb: str, a: Any, b: Any) -> Any:
    if ta == I and tb in _INTEGRAL:
        if b == 0:
            return Err(DIVIDE)
        return _int_result(_go_div(a, int(b)), I)
    if ta == U and tb in _INTEGRAL:
        if b == 0:
            return Err(DIVIDE)
        return _int_result(int(a) // int(b), U)
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
        return _int_result(_go_mod(a, int(b)), I)
    if ta == U and tb in _INTEGRAL:
        if b == 0:
            return Err(DIVIDE)
        return _int_result(int(a) % int(b), U)
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
        return _int_result(-a, I)
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


# -- functions ---------------------------------------------------------------------------------


def size(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    (value,) = args
    t = tag(value)
    if t == N:
        return 0
    if t in "SPYLM":
        return len(value)
    return Err(NO_OVERLOAD)


def contains(*args: Any) -> Any:
    if len(args) != 2:
        return Err(NO_OVERLOAD)
    container, item = args
    tc, ti = tag(container), tag(item)
    if tc == S:
        return item in container if ti in STRINGS else Err(NO_OVERLOAD)
    if tc == L:
        try:
            return any(member is item or py_eq(member, item) for member in container)
        except Mismatch:
            return Err(NO_OVERLOAD)
    if tc == M:
        string_keys(container)
        if ti in "LM":
            return Err(NO_OVERLOAD)  # unhashable
        return ti in STRINGS and item in container
    if tc in (Y, T):
        raise Defer
    return Err(NO_OVERLOAD)  # PlainStr and the rest have no contains


def _affix(method: str) -> Callable[..., Any]:
    def apply(*args: Any) -> Any:
        if len(args) != 2:
            return Err(NO_OVERLOAD)
        text, part = args
        tt, tp = tag(text), tag(part)
        if (tt in STRINGS and tp in STRINGS) or (tt == Y == tp):
            return bool(getattr(text, method)(part))
        if tt == T:
            raise Defer
        return Err(NO_OVERLOAD)

    return apply


starts_with = _affix("startswith")
ends_with = _affix("endswith")


def matches(*args: Any) -> Any:
    if len(args) != 2 or tag(args[0]) not in STRINGS or tag(args[1]) not in STRINGS:
        raise Defer
    import re2  # type: ignore[import-untyped]  # celpy's own regular expressions (RE2), loaded only when a policy matches

    text, pattern = args
    try:
        return re2.search(str(pattern), str(text)) is not None
    except re2.error:
        return Err("match error")


def to_int(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    (value,) = args
    t = tag(value)
    if t == D:
        return float_to_int(value, INT64, int)
    if t in "NBIU":
        return _int_result(int(value or 0), I)
    if t in STRINGS or t == Y:
        text = value
        try:
            if t != Y and text[:2] in ("0x", "0X"):
                whole = int(text[2:], 16)
            elif t != Y and text[:3] in ("-0x", "-0X"):
                whole = -int(text[3:], 16)
            else:
                whole = int(text)
        except ValueError:
            return Err(OVERFLOW)
        return _int_result(whole, I)
    return Err(NO_OVERLOAD)


def to_uint(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    (value,) = args
    t = tag(value)
    if t == D:
        return float_to_int(value, UINT64, Uint)
    if t in "NBIU":
        return _int_result(int(value or 0), U)
    if t in STRINGS or t == Y:
        try:
            whole = int(value[2:], 16) if t != Y and value[:2] in ("0x", "0X") else int(value)
        except ValueError:
            return Err(OVERFLOW)
        return _int_result(whole, U)
    return Err(NO_OVERLOAD)


def to_double(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    (value,) = args
    t = tag(value)
    if t == N:
        return 0.0
    if t in NUMERIC or t in STRINGS or t == Y:
        try:
            return float(value)
        except ValueError:
            return Err(OVERFLOW)
        except OverflowError:
            raise Defer from None  # celpy lets Python's OverflowError through
    return Err(NO_OVERLOAD)


def to_string(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    (value,) = args
    t = tag(value)
    if t == Y:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return Err(OVERFLOW)
    if t in STRINGS:
        return str(value)
    return cel_str(value)


_FALSE: Final = frozenset({"False", "f", "FALSE", "false"})
_TRUE: Final = frozenset({"True", "t", "TRUE", "true"})


def to_bool(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    (value,) = args
    t = tag(value)
    if t in (N, B):
        return bool(value)
    if t in STRINGS:
        if value in _FALSE:
            return False
        if value in _TRUE:
            return True
        try:
            whole = int(value)
        except ValueError:
            return Err(OVERFLOW)
        if whole in (0, 1):
            return bool(whole)
        raise Defer  # a BoolType holding another int
    if t in "LM":
        return Err(NO_OVERLOAD)
    raise Defer


def to_bytes(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    (value,) = args
    t = tag(value)
    if t == N:
        return b""
    if t == Y:
        return value
    if t in STRINGS:
        try:
            return str(value).encode("utf-8")
        except UnicodeEncodeError:
            return Err(OVERFLOW)
    if t in "LM":
        raise Defer  # bytes() of an iterable
    return Err(NO_OVERLOAD)


def type_of(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    return kind_of(args[0])


FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "size": size,
    "contains": contains,
    "startsWith": starts_with,
    "endsWith": ends_with,
    "matches": matches,
    "int": to_int,
    "uint": to_uint,
    "double": to_double,
    "string": to_string,
    "bool": to_bool,
    "bytes": to_bytes,
    "type": type_of,
}
# Those that can raise a Python exception in celpy (OverflowError): never skipped by && or ||.
RAISING: Final = frozenset({"int", "uint", "double", "matches"})


def call(name: str, args: list[Any]) -> Any:
    """A function or method call: the first error among the arguments, else the function's
    result (celpy's function_eval and method_eval)."""
    for arg in args:
        if type(arg) is Err:
            return arg
    return FUNCTIONS[name](*args)


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


__all__ = ["B", "D", "I", "Kind", "M", "N", "P", "S", "T", "U", "Y"]

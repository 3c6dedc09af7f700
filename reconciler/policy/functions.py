"""CEL's standard functions over policy.values, as celpy implements them (its base_functions):
size, contains, startsWith, endsWith, matches (with celpy's own RE2), the conversions int,
uint, double, string, bool and bytes, and type. A method call is the function with its
receiver first. Each takes values and returns a value or an `Err` ("no such overload", "return
error for overflow"), or raises `Defer` where celpy's answer is not one policy.values holds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from reconciler.policy.compare import py_eq
from reconciler.policy.values import (
    INT64,
    NO_OVERLOAD,
    NUMERIC,
    OVERFLOW,
    STRINGS,
    UINT64,
    B,
    D,
    Defer,
    Err,
    I,
    L,
    M,
    Mismatch,
    N,
    S,
    T,
    U,
    Uint,
    Y,
    cel_str,
    float_to_int,
    int_result,
    kind_of,
    string_keys,
    tag,
)


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
        return int_result(int(value or 0), I)
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
        return int_result(whole, I)
    return Err(NO_OVERLOAD)


def to_uint(*args: Any) -> Any:
    if len(args) != 1:
        return Err(NO_OVERLOAD)
    (value,) = args
    t = tag(value)
    if t == D:
        return float_to_int(value, UINT64, Uint)
    if t in "NBIU":
        return int_result(int(value or 0), U)
    if t in STRINGS or t == Y:
        try:
            whole = int(value[2:], 16) if t != Y and value[:2] in ("0x", "0X") else int(value)
        except ValueError:
            return Err(OVERFLOW)
        return int_result(whole, U)
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

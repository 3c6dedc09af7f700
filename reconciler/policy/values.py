"""CEL values as plain Python values, with the semantics cel-python (`celpy`) gives them, for
the compiled policies (policy.closures). No celpy here: a warm plan must not import it.

celpy wraps each value in a class of its own (IntType, StringType, ...) and lets Python's
operator dispatch decide what `a == b` or `a + b` does. Its results are sometimes not the CEL
specification's (`true == 1` is true, `1 == true` an error; `"a" == null` is false, `1 ==
null` an error; `"a" / 0.0` is infinity), but they are what policies have been evaluated
with, so they are kept exactly. Values here are those of JSON plus three: `Uint` (CEL's
uint), `PlainStr` (a string that celpy computes as Python's own `str`, e.g. a concatenation:
it has no `contains` and is not a `string` to `type()`) and `Kind` (a type, as `type()` gives
it). `Err` is an evaluation error as a value (CEL's `||` and `&&` absorb it).

Where celpy would give a value outside this domain (Python's own int or float from bool or
double arithmetic, bytes indexing, ...) or raise a Python exception rather than return an
error, an operation raises `Defer`: the expression is then evaluated by celpy for that input,
never answered here with a guess. `Mismatch` is celpy's internal TypeError (no overload),
which the relation that asked turns into its error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Final

ROOTS: Final = ("change", "env", "plan")  # what a policy sees (SPEC 8)
MACROS: Final = frozenset({"all", "exists", "exists_one", "map", "filter"})


class Uint(int):
    """A CEL uint (celpy's UintType)."""

    __slots__ = ()


class PlainStr(str):
    """A string celpy computes as Python's `str` rather than its StringType."""

    __slots__ = ()


class Kind:
    """A CEL type as a value: what `type(x)` gives and what `int`, `string`, ... name."""

    __slots__ = ("shown",)

    def __init__(self, shown: str) -> None:
        self.shown = shown  # the Python class celpy gives, as repr() shows it

    def __repr__(self) -> str:
        return self.shown


def _celpy(name: str) -> Kind:
    return Kind(f"<class 'celpy.celtypes.{name}'>")


KIND_NULL: Final = Kind("<class 'NoneType'>")
KIND_BOOL: Final = _celpy("BoolType")
KIND_INT: Final = _celpy("IntType")
KIND_UINT: Final = _celpy("UintType")
KIND_DOUBLE: Final = _celpy("DoubleType")
KIND_STRING: Final = _celpy("StringType")
KIND_PLAIN: Final = Kind("<class 'str'>")
KIND_BYTES: Final = _celpy("BytesType")
KIND_LIST: Final = _celpy("ListType")
KIND_MAP: Final = _celpy("MapType")
KIND_TYPE: Final = _celpy("TypeType")
KIND_DURATION: Final = _celpy("DurationType")
KIND_TIMESTAMP: Final = _celpy("TimestampType")

# The identifiers that name a type (celpy's base_functions that are classes).
TYPE_NAMES: Final = {
    "bool": KIND_BOOL,
    "bytes": KIND_BYTES,
    "double": KIND_DOUBLE,
    "duration": KIND_DURATION,
    "int": KIND_INT,
    "list": KIND_LIST,
    "map": KIND_MAP,
    "null_type": KIND_NULL,
    "string": KIND_STRING,
    "timestamp": KIND_TIMESTAMP,
    "uint": KIND_UINT,
    "type": KIND_TYPE,
}


class Err:
    """An evaluation error as a value; its message is celpy's, formatted when asked for."""

    __slots__ = ("_args", "_format")

    def __init__(self, format: str, *args: Any) -> None:
        self._format = format
        self._args = args

    @property
    def message(self) -> str:
        if not self._args:
            return self._format
        return self._format.format(*(_shown_arg(a) for a in self._args))

    def __repr__(self) -> str:
        return f"Err({self.message!r})"


class _Class:
    """An Err argument shown as the Python class celpy has for a value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Repr:
    """An Err argument shown as celpy's repr() of a value."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _shown_arg(arg: Any) -> Any:
    if type(arg) is _Class:
        return class_of(arg.value)
    if type(arg) is _Repr:
        return cel_repr(arg.value)
    return arg


class Defer(Exception):
    """This input's result is celpy's to give (see the module's docstring)."""


class Fatal(Exception):
    """An error celpy raises rather than returns (a `map`, `filter` or `exists_one` whose
    expression fails): no `&&` or `||` absorbs it."""

    def __init__(self, err: Err) -> None:
        super().__init__(err.message)
        self.err = err


class Mismatch(Exception):
    """No overload for these operands (celpy's TypeError)."""


# -- what a value is -------------------------------------------------------------------------

N, B, I, U, D, S, P, Y, L, M, T = "NBIUDSPYLMT"  # noqa: E741
_TAG: Final[dict[type, str]] = {
    type(None): N,
    bool: B,
    int: I,
    Uint: U,
    float: D,
    str: S,
    PlainStr: P,
    bytes: Y,
    list: L,
    dict: M,
    Kind: T,
}
_KIND: Final = {
    N: KIND_NULL,
    B: KIND_BOOL,
    I: KIND_INT,
    U: KIND_UINT,
    D: KIND_DOUBLE,
    S: KIND_STRING,
    P: KIND_PLAIN,
    Y: KIND_BYTES,
    L: KIND_LIST,
    M: KIND_MAP,
    T: KIND_TYPE,
}
NUMERIC: Final = frozenset("BIUD")
STRINGS: Final = frozenset("SP")


def tag(value: Any) -> str:
    """One letter for the kind of `value`; Defer for anything that is no CEL value here."""
    found = _TAG.get(type(value))
    if found is None:
        raise Defer
    return found


def kind_of(value: Any) -> Kind:
    """What `type(value)` gives."""
    return _KIND[tag(value)]


def class_of(value: Any) -> str:
    """The Python class celpy has for `value`, as `type(value)` shows in its messages."""
    if type(value) is Err:
        return "<class 'celpy.evaluation.CELEvalError'>"
    if type(value) is Kind:
        return "<class 'type'>"
    return _KIND[tag(value)].shown


def cel_repr(value: Any) -> str:
    """celpy's repr() of `value` (its messages show it)."""
    t = tag(value)
    if t == N:
        return "None"
    if t == B:
        return f"BoolType({value!r})"
    if t == I:
        return f"IntType({int.__repr__(value)})"
    if t == U:
        return f"UintType({int.__repr__(value)})"
    if t == D:
        return f"DoubleType({float.__repr__(value)})"
    if t == S:
        return f"StringType({str.__repr__(value)})"
    if t == P:
        return str.__repr__(value)
    if t == Y:
        return f"BytesType({bytes.__repr__(value)})"
    if t == L:
        return f"ListType([{', '.join(cel_repr(v) for v in value)}])"
    if t == M:
        items = ", ".join(f"{cel_repr(k)}: {cel_repr(v)}" for k, v in value.items())
        return f"MapType({{{items}}})"
    return str(value)


def cel_str(value: Any) -> str:
    """celpy's str() of `value` (what `string(x)` gives for a value that is not a string)."""
    t = tag(value)
    if t == B:
        return "True" if value else "False"
    if t in (I, U):
        return int.__repr__(value)
    if t == D:
        return float.__repr__(value)
    if t in STRINGS:
        return str(value)
    return cel_repr(value)


def string_keys(mapping: dict[Any, Any]) -> None:
    """Defer unless every key is a string: celpy's maps with int, bool or double keys compare
    and look up their keys by its own rules, not Python's."""
    for key in mapping:
        if type(key) is not str and type(key) is not PlainStr:
            raise Defer


# -- errors as celpy words them ----------------------------------------------------------------


def overload(rule: str, *operands: Any) -> Err:
    """celpy's error for an operator whose operands have no overload."""
    shown = ", ".join("{}" for _ in operands)
    return Err(
        f"found no matching overload for Token('RULE', '{rule}') applied to '({shown})'",
        *(_Class(o) for o in operands),
    )


def no_overload(name: str, *operands: Any) -> Err:
    """celpy's error for `&&`, `||`, `?:` or `[]` whose operands have no overload."""
    shown = ", ".join("{}" for _ in operands)
    return Err(
        f"found no matching overload for {name} applied to '({shown})'",
        *(_Class(o) for o in operands),
    )


NO_OVERLOAD: Final = "no such overload"  # a function's or a macro's
OVERFLOW: Final = "return error for overflow"
DIVIDE: Final = "modulus or divide by zero"
INT64: Final = (-(2**63), 2**63)
UINT64: Final = (0, 2**64)


def not_selectable(value: Any) -> Err:
    return Err("{} with type: '{}' does not support field selection", _Repr(value), _Class(value))


def no_member(name: str) -> Err:
    return Err(f"no such member in mapping: {name!r}")


def duplicate_key(key: Any) -> Err:
    return Err("Duplicate key {}", _Repr(key))


def in_range(value: int, bounds: tuple[int, int]) -> bool:
    return bounds[0] <= value < bounds[1]


def float_to_int(value: float, bounds: tuple[int, int], make: Callable[[int], Any]) -> Any:
    """celpy's IntType(double) / UintType(double): truncated, in range or an overflow error."""
    if math.isinf(value):
        raise Defer  # celpy raises Python's OverflowError rather than returning an error
    if math.isnan(value):
        return Err(OVERFLOW)
    whole = math.trunc(value)
    return make(whole) if in_range(whole, bounds) else Err(OVERFLOW)


def int_result(value: int, kind: str) -> Any:
    """An int of `kind` (I or U) in its range, else celpy's overflow error."""
    if kind == I:
        return value if in_range(value, INT64) else Err(OVERFLOW)
    return Uint(value) if in_range(value, UINT64) else Err(OVERFLOW)

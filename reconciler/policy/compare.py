"""Equality and order of CEL values as celpy gives them: Python's operators over celpy's
classes, with its mismatches (policy.values holds the values themselves)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any, Final

from reconciler.policy.values import (
    NUMERIC,
    STRINGS,
    B,
    I,
    L,
    M,
    Mismatch,
    N,
    T,
    Y,
    string_keys,
    tag,
)

# -- equality and order: Python's operators over celpy's classes ------------------------------

_MIS: Final = object()  # a comparison inside a list or map that had no overload


def py_eq(a: Any, b: Any) -> bool:
    """celpy's `a == b` as Python evaluates it: a bool, or Mismatch."""
    ta, tb = tag(a), tag(b)
    if ta == tb or (ta in STRINGS and tb in STRINGS):
        if ta == L:
            return _list_eq(a, b)
        if ta == M:
            return _map_eq(a, b)
        if ta == T:
            return a is b
        return bool(a == b)
    if ta in "IUD":  # type_matched: only its own class
        raise Mismatch
    if ta == B:
        if tb in "IU":
            return bool(int(a) == b)
        if tb in "DLM":
            raise Mismatch
        return False
    if ta in "SPYTN":
        if tb in "IUD" or (ta != N and tb in "LM"):
            raise Mismatch
        return False
    if tb == N:  # a list or a map against null
        return False
    raise Mismatch


def py_ne(a: Any, b: Any) -> bool:
    """celpy's `a != b` as Python evaluates it: a bool, or Mismatch."""
    ta, tb = tag(a), tag(b)
    if ta == tb or (ta in STRINGS and tb in STRINGS):
        if ta == L:
            return _list_ne(a, b)
        if ta == M:
            return _map_ne(a, b)
        if ta == T:
            return a is not b
        return bool(a != b)
    if ta in "IUDLM":
        raise Mismatch
    if ta == B:
        if tb in "IU":
            return bool(int(a) != b)
        if tb in "DLM":
            raise Mismatch
        return True
    if tb in "IUDLM":
        raise Mismatch
    return True


def _fold_and(x: Any, y: Any) -> Any:
    # celpy's logical_and over bools and _MIS, as reduce() applies it in ListType.__eq__.
    if x is _MIS:
        if y is _MIS:
            raise Mismatch
        return x if y else y
    if y is _MIS:
        return y if x else x
    return x and y


def _fold_or(x: Any, y: Any) -> Any:
    if x is _MIS:
        if y is _MIS:
            raise Mismatch
        return y if y else x
    if y is _MIS:
        return x if x else y
    return x or y


def _pairwise(pairs: Any, compare: Callable[[Any, Any], bool], fold: Any, start: bool) -> bool:
    acc: Any = start
    for s, o in pairs:
        try:
            found: Any = compare(s, o)
        except Mismatch:
            found = _MIS
        acc = fold(acc, found)
    if acc is _MIS:
        raise Mismatch
    return bool(acc)


def _list_eq(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return False
    return _pairwise(zip(a, b, strict=True), py_eq, _fold_and, True)


def _list_ne(a: list[Any], b: list[Any]) -> bool:
    if len(a) != len(b):
        return True
    return _pairwise(zip(a, b, strict=True), py_ne, _fold_or, False)


def _map_eq(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    string_keys(a)
    string_keys(b)
    if a.keys() != b.keys():
        return False
    return _pairwise(((a[k], b[k]) for k in a), py_eq, _fold_and, True)


def _map_ne(a: dict[Any, Any], b: dict[Any, Any]) -> bool:
    string_keys(a)
    string_keys(b)
    if len(a) == 1 and len(b) == 1 and a.keys() == b.keys():
        key = next(iter(a))
        return py_ne(a[key], b[key])
    if a.keys() != b.keys():
        return True
    return _pairwise(((a[k], b[k]) for k in a), py_ne, _fold_or, False)


ORDER: Final[dict[str, Callable[[Any, Any], Any]]] = {
    "relation_lt": operator.lt,
    "relation_le": operator.le,
    "relation_gt": operator.gt,
    "relation_ge": operator.ge,
}


def py_order(op: Callable[[Any, Any], Any], a: Any, b: Any) -> bool:
    """celpy's `a < b` (and <=, >, >=) as Python evaluates it: a bool, or Mismatch."""
    ta, tb = tag(a), tag(b)
    if ta == I:
        ok = tb == I  # IntType's comparisons are type_matched
    elif ta in "UDB":
        ok = tb in NUMERIC
    elif ta in STRINGS:
        ok = tb in STRINGS
    else:
        ok = ta == Y == tb
    if not ok:
        raise Mismatch
    return bool(op(a, b))

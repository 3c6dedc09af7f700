"""celpy's parse tree of a policy, lowered to the small intermediate form policy.closures
compiles (nested JSON lists, so policy.programs can keep it between runs). Only the cold
path runs this: it reads lark trees and decodes literals with celpy's own functions.

A construct outside what policy.closures implements raises `Unsupported`, and the expression
is then evaluated by celpy: protobuf messages (`T{f: v}`), a leading `.`, durations,
timestamps and their methods, `list()`/`map()` conversions, names that are functions used
as values, macros called as functions, and macros whose variable is not a plain name.

The forms, by their first element:
  ["int", n] ["uint", n] ["double", hex] ["string", s] ["bytes", hex] ["bool", b] ["null"]
  ["error", message]           a literal celpy cannot make (an int out of range)
  ["var", name]                an input (change, env, plan) or a macro's variable
  ["type", name]               a type's name used as a value (int, string, ...)
  ["select", x, field]  ["index", x, key]
  ["has", [x, ...]]  ["dyn", [x, ...]]
  ["and", a, b]  ["or", a, b]  ["cond", c, a, b]  ["not", x]  ["neg", x]
  ["relation", rule, a, b]     rule: relation_eq, ..., relation_in
  ["arithmetic", rule, a, b]   rule: addition_add, ..., multiplication_mod
  ["list", [x, ...]]  ["map", [k, v, k, v, ...]]
  ["call", function, [x, ...]] a function, or a method with its receiver first
  ["macro", name, receiver, variable, body]
  ["undumpable", form]         the whole expression, when an error it makes cannot be printed
                               by celpy (see _undumpable): where celpy prints one, it defers
"""

from __future__ import annotations

from typing import Any, Final

from reconciler.policy.functions import FUNCTIONS
from reconciler.policy.values import MACROS, ROOTS, TYPE_NAMES

_PASS_THROUGH: Final = frozenset({"member", "primary", "paren_expr"})
_BINARY: Final = {"conditionalor": "or", "conditionaland": "and"}
_OPERATORS: Final = {
    "relation": "relation",
    "addition": "arithmetic",
    "multiplication": "arithmetic",
}


class Unsupported(Exception):
    """A construct the compiler leaves to celpy."""


def lower(tree: Any) -> list[Any]:
    """The intermediate form of celpy's parse tree `tree`; Unsupported when it uses a construct
    policy.closures does not implement."""
    form = _Lowering().node(tree)
    return ["undumpable", form] if _undumpable(tree) else form


# The nodes where celpy makes an error that carries its tree.
_MAKERS: Final = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication"}
    | {"unary", "member_dot", "member_dot_arg", "member_index", "primary", "literal"}
)


def _undumpable(tree: Any) -> bool:
    """Whether an error made in `tree` can have a tree celpy fails to print (its tree_dump
    fails on some subtrees, e.g. `0 == []`): celpy prints an error it combines with `&&` or
    `||` when neither side is a bool, or divides an int by, and so raises IndexError there."""
    from celpy.celparser import tree_dump

    # tree_dump keeps a stack of one text per node: only an empty [] or {} (which takes the
    # text before it instead of pushing one) can leave it short.
    stack, empty = [tree], False
    while stack and not empty:
        node = stack.pop()
        children = getattr(node, "children", None)
        if children is None:
            continue
        empty = not children and str(node.data) in ("list_lit", "map_lit")
        stack.extend(children)
    if not empty:
        return False
    for node in tree.iter_subtrees():
        if str(node.data) in _MAKERS:
            try:
                tree_dump(node)
            except Exception:
                return True
    return False


class _Lowering:
    def __init__(self) -> None:
        self.bound: list[str] = []  # the macro variables in scope, innermost last

    def node(self, tree: Any) -> list[Any]:
        data = str(getattr(tree, "data", ""))
        children = list(getattr(tree, "children", ()))
        if data in _PASS_THROUGH or (data in _BINARY | _OPERATORS and len(children) == 1):
            return self.only(children)
        if data == "expr":
            if len(children) == 1:
                return self.node(children[0])
            if len(children) == 3:
                return ["cond", *(self.node(c) for c in children)]
        elif data in _BINARY and len(children) == 2:
            return [_BINARY[data], self.node(children[0]), self.node(children[1])]
        elif data in _OPERATORS and len(children) == 2:
            operator, right = children
            (left,) = operator.children
            rule = str(operator.data)
            return [_OPERATORS[data], rule, self.node(left), self.node(right)]
        elif data == "unary":
            if len(children) == 1:
                return self.node(children[0])
            operator, operand = children
            return ["not" if str(operator.data) == "unary_not" else "neg", self.node(operand)]
        elif data == "member_dot":
            return ["select", self.node(children[0]), str(children[1])]
        elif data == "member_dot_arg":
            return self.method(children)
        elif data == "member_index":
            return ["index", self.node(children[0]), self.node(children[1])]
        elif data == "literal":
            return literal(children[0])
        elif data == "list_lit":
            return ["list", self.items(children)]
        elif data == "map_lit":
            return ["map", self.items(children)]
        elif data == "ident":
            return self.ident(str(children[0]))
        elif data == "ident_arg":
            return self.function(str(children[0]), self.items(children[1:]))
        raise Unsupported(data)

    def only(self, children: list[Any]) -> list[Any]:
        if len(children) != 1:
            raise Unsupported("a node of more than one child")
        return self.node(children[0])

    def items(self, children: list[Any]) -> list[list[Any]]:
        """The expressions of an optional exprlist or mapinits."""
        if not children:
            return []
        (listed,) = children
        return [self.node(c) for c in listed.children]

    def ident(self, name: str) -> list[Any]:
        if name in self.bound or name in ROOTS:
            return ["var", name]
        if name in TYPE_NAMES:
            return ["type", name]
        raise Unsupported(f"the name {name}")

    def function(self, name: str, args: list[list[Any]]) -> list[Any]:
        if name in ("has", "dyn"):
            if not args:
                raise Unsupported(f"{name}()")
            return [name, args]
        if name in FUNCTIONS:
            return ["call", name, args]
        raise Unsupported(f"the function {name}")

    def method(self, children: list[Any]) -> list[Any]:
        receiver, name = self.node(children[0]), str(children[1])
        if name not in MACROS:
            if name not in FUNCTIONS:
                raise Unsupported(f"the method {name}")
            return ["call", name, [receiver, *self.items(children[2:])]]
        args = children[2].children if len(children) == 3 else []
        variable = _variable(args[0]) if len(args) == 2 else None
        if variable is None:
            raise Unsupported(f"{name}() without a variable and an expression")
        self.bound.append(variable)
        try:
            body = self.node(args[1])
        finally:
            self.bound.pop()
        return ["macro", name, receiver, variable, body]


def _variable(expr: Any) -> str | None:
    """The name when `expr` is a bare identifier (a macro's variable), else None."""
    node = expr
    while len(getattr(node, "children", ())) == 1 and str(node.data) != "ident":
        node = node.children[0]
    if str(getattr(node, "data", "")) == "ident":
        return str(node.children[0])
    return None


def literal(token: Any) -> list[Any]:
    """A literal token as celpy reads it (with its own functions), as a form."""
    from celpy import celtypes
    from celpy.evaluation import celbytes, celstr

    kind, text = token.type, token.value
    try:
        if kind == "FLOAT_LIT":
            return ["double", float(celtypes.DoubleType(text)).hex()]
        if kind == "INT_LIT":
            return ["int", int(celtypes.IntType(text))]
        if kind == "UINT_LIT" and text[-1:].lower() == "u":
            return ["uint", int(celtypes.UintType(text[:-1]))]
        if kind in ("MLSTRING_LIT", "STRING_LIT"):
            return ["string", str(celstr(token))]
        if kind == "BYTES_LIT":
            return ["bytes", bytes(celbytes(token)).hex()]
        if kind == "BOOL_LIT":
            return ["bool", text.lower() == "true"]
        if kind == "NULL_LIT":
            return ["null"]
    except ValueError as exc:
        return ["error", str(exc.args[0])]
    raise Unsupported(f"the literal {kind}")

"""celpy's parse tree of a policy, read for what it says: the names it uses (a variable that is
not an input or a macro's, an unknown function: `validate` reports them at their line) and
the paths of the inputs it reads (which key the memo of what celpy evaluated)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from reconciler.policy.values import MACROS, ROOTS


class CelError(ValueError):
    """An expression that is not valid CEL, or that names what a policy cannot see."""

    def __init__(self, message: str, *, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def _children(tree: Any) -> list[Any]:
    return list(getattr(tree, "children", ()))


def _walk(tree: Any) -> Iterator[tuple[str, Any]]:
    """Every node of `tree` in document order, with its rule's name as a plain str (lark's
    Token compares in Python, and a tree has hundreds of nodes)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if hasattr(node, "data"):
            yield str(node.data), node
            stack.extend(reversed(_children(node)))


def check_names(tree: Any) -> None:
    """CelError for a variable that is not an input or a macro's, or an unknown function: a
    typo (`chnage.kind`) is found by `validate`, not by the first plan that reaches it."""
    from celpy.evaluation import base_functions

    nodes = list(_walk(tree))
    bound: set[str] = set()
    variables = MACROS
    for data, node in nodes:
        if data == "member_dot_arg" and str(node.children[1]) in variables:
            args = [c for c in _children(node) if str(getattr(c, "data", "")) == "exprlist"]
            first = _ident(args[0].children[0]) if args and args[0].children else None
            if first:
                bound.add(first)
    functions = set(base_functions) | MACROS | {"has", "dyn"}
    for data, node in nodes:
        if data == "ident":
            name = str(node.children[0])
            if name not in ROOTS and name not in bound and name not in functions:
                raise CelError(
                    f"unknown variable `{name}`: a policy sees change, env and plan",
                    line=node.meta.line,
                    column=node.meta.column,
                )
        elif data in ("ident_arg", "member_dot_arg"):
            name = str(node.children[0] if data == "ident_arg" else node.children[1])
            if name not in functions:
                raise CelError(
                    f"unknown function `{name}`", line=node.meta.line, column=node.meta.column
                )
        elif data in ("dot_ident", "dot_ident_arg"):
            raise CelError(
                "a leading `.` (root scope) is not supported in policies",
                line=node.meta.line,
                column=node.meta.column,
            )


_WRAPPERS = frozenset(
    {"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication"}
    | {"unary", "member", "primary"}
)


def _ident(expr: Any) -> str | None:
    """The name when `expr` is a bare identifier (a macro's variable), else None."""
    node = expr
    while str(getattr(node, "data", "")) in _WRAPPERS:
        if len(node.children) != 1:
            return None
        node = node.children[0]
    if str(getattr(node, "data", "")) == "ident":
        return str(node.children[0])
    return None


def _chain(node: Any) -> tuple[str, ...] | None:
    """`change.after.DestinationID` as ("change", "after", "DestinationID"), for a `member`
    node that is only field selections from an input; None for anything else."""
    names: list[str] = []
    while True:
        data = str(getattr(node, "data", ""))
        if data == "member" and len(node.children) == 1:
            node = node.children[0]
        elif data == "member_dot":
            names.append(str(node.children[1]))
            node = node.children[0]
        elif data == "primary" and str(getattr(node.children[0], "data", "")) == "ident":
            root = str(node.children[0].children[0])
            return (root, *reversed(names)) if root in ROOTS else None
        else:
            return None


def paths_read(tree: Any) -> tuple[tuple[str, ...], ...] | None:
    """Every longest field path from an input that the expression reads. Any other use of an
    input (as a whole, through a macro variable of the same name) is covered too: the path is
    then the input itself, or a path that names more than is read, which only makes fewer
    cases alike."""
    found: set[tuple[str, ...]] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if not hasattr(node, "data"):
            continue
        data = str(node.data)
        if data == "member":
            chain = _chain(node)
            if chain is not None:
                found.add(chain)
                continue
        if data == "ident" and str(node.children[0]) in ROOTS:
            found.add((str(node.children[0]),))
        stack.extend(_children(node))
    return tuple(sorted(found))

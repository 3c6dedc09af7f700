"""CEL for policies, through cel-python (`celpy`): compile an expression once, check the names
it uses, and evaluate it for many inputs. celpy is imported only here and only when a policy is
compiled: a repository without policies never pays its start-up (lark, pendulum, re2).

celpy interprets its parse tree, at a fraction of a millisecond to a few per evaluation. Two
things keep a plan's policies cheap. A policy reads a few paths of its inputs (`change.kind`,
`change.after.DestinationID`), so its result is a function of the values at those paths:
`Program.evaluate` keys a memo on them, and a plan whose changes look alike to a policy costs
it one evaluation, not one per change. And a `deny` that is a chain of `&&` (or of `||`) is
evaluated one operand at a time, each with its own memo, with CEL's own rules (false && x is
false, an error included; true || x is true): the guard `change.action == "deactivate"` is
decided once for a plan of updates, and what it guards is not evaluated at all."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ROOTS = ("change", "env", "plan")
MACROS = frozenset({"has", "dyn", "all", "exists", "exists_one", "map", "filter"})
_GUARD = threading.Lock()  # celpy's parser is one shared lark instance


class CelError(ValueError):
    """An expression that is not valid CEL, or that names what a policy cannot see."""

    def __init__(self, message: str, *, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(frozen=True)
class Outcome:
    """An evaluation: `value` true or false, or `error` (then `value` is None)."""

    value: bool | None
    error: str | None = None


@dataclass
class Program:
    """A compiled expression, with the input paths its result depends on (None: it reads a
    whole variable in a way that cannot be narrowed, so every input is its own case)."""

    text: str
    runner: Any
    paths: tuple[tuple[str, ...], ...] | None
    memo: dict[str, Outcome] = field(default_factory=dict)
    # A chain of && ("and") or || ("or"): its operands, evaluated one by one.
    join: str = ""
    parts: tuple[Program, ...] = ()

    def evaluate(
        self, inputs: Mapping[str, Any], to_cel: Callable[[], Mapping[str, Any]]
    ) -> Outcome:
        """The outcome for `inputs` (plain JSON values): `to_cel()` gives the same inputs as
        CEL values, asked for only when this case has not been evaluated yet."""
        if self.parts:
            return self._chain(inputs, to_cel)
        key = _case(inputs, self.paths) if self.paths is not None else None
        if key is not None and key in self.memo:
            return self.memo[key]
        found = _run(self.runner, to_cel())
        if key is not None:
            self.memo[key] = found
        return found

    def _chain(self, inputs: Mapping[str, Any], to_cel: Callable[[], Mapping[str, Any]]) -> Outcome:
        # CEL's && and || are commutative over errors: an operand that decides (false for &&,
        # true for ||) decides whatever the others give, errors included.
        deciding = self.join == "or"
        error: Outcome | None = None
        for part in self.parts:
            found = part.evaluate(inputs, to_cel)
            if found.value is deciding:
                return found
            if found.error is not None and error is None:
                error = found
        return error or Outcome(not deciding)


def compile_expression(text: str) -> Program:
    """Parse and check `text`; CelError (with the line and column in `text`) when it is not
    valid CEL or uses a name other than change, env, plan, a function or a macro variable."""
    runner, tree = _compiled(text)
    join, operands = _operands(tree)
    parts = tuple(Program(text, runner, _paths(t)) for runner, t in operands)
    return Program(text, runner, _paths(tree), join=join, parts=parts)


def _operands(tree: Any) -> tuple[str, list[tuple[Any, Any]]]:
    """A top-level chain of && or || as ("and" | "or", [(runner, tree) per operand]); ("", [])
    for any other expression."""
    import lark

    node = tree
    if node.data != "expr" or len(node.children) != 1:
        return "", []
    node = node.children[0]  # conditionalor
    ors = _flatten(node, "conditionalor")
    if len(ors) > 1:
        wrapped = [lark.Tree("expr", [lark.Tree("conditionalor", [o])]) for o in ors]
        return "or", [(_environment().program(w), w) for w in wrapped]
    ands = _flatten(ors[0], "conditionaland")
    if len(ands) > 1:
        wrapped = [
            lark.Tree("expr", [lark.Tree("conditionalor", [lark.Tree("conditionaland", [a])])])
            for a in ands
        ]
        return "and", [(_environment().program(w), w) for w in wrapped]
    return "", []


def _flatten(node: Any, name: str) -> list[Any]:
    """The operands of a left-nested chain of `name` nodes (a || b || c), left to right."""
    found: list[Any] = []
    while getattr(node, "data", None) == name and len(node.children) == 2:
        found.append(node.children[1])
        node = node.children[0]
    if getattr(node, "data", None) == name and len(node.children) == 1:
        node = node.children[0]
    found.append(node)
    return list(reversed(found))


@lru_cache(maxsize=4096)
def _compiled(text: str) -> tuple[Any, Any]:
    # Each expression is parsed once per process, whatever the number of environments planned.
    from celpy.celparser import CELParseError

    with _GUARD:
        environment = _environment()
        try:
            tree = environment.compile(text)
        except CELParseError as exc:
            line, column = int(exc.line or 0), int(exc.column or 0)
            raise CelError(_syntax(text, line, column), line=line, column=column) from None
    _check_names(tree)
    return environment.program(tree), tree


@lru_cache(maxsize=1)
def _environment() -> Any:
    import celpy

    return celpy.Environment()


def to_cel(document: Any) -> Any:
    """A JSON value as CEL's: null, lists and maps as `null`, `list` and `map`."""
    from celpy.adapter import json_to_cel

    return json_to_cel(document)


def _run(runner: Any, activation: Mapping[str, Any]) -> Outcome:
    from celpy.celtypes import BoolType
    from celpy.evaluation import CELEvalError

    try:
        value = runner.evaluate(dict(activation))
    except CELEvalError as exc:
        return Outcome(None, _eval_message(exc))
    except Exception as exc:  # fail closed: a fault of celpy's own counts as an error
        return Outcome(None, f"{type(exc).__name__}: {exc}")
    if isinstance(value, CELEvalError):
        return Outcome(None, _eval_message(value))
    if isinstance(value, BoolType | bool):
        return Outcome(bool(value))
    shown = json.dumps(_plain(value), default=str)[:80]
    return Outcome(
        None,
        f"deny gave {type(value).__name__.removesuffix('Type').lower()} {shown}, not true or false",
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _eval_message(exc: BaseException) -> str:
    args: tuple[Any, ...] = tuple(exc.args)
    first: Any = args[0] if args else exc
    if isinstance(first, str) and first == "evaluation error" and len(args) > 2 and args[2]:
        first = args[2][0]
    return str(first)


def _syntax(text: str, line: int, column: int) -> str:
    lines = text.splitlines() or [""]
    row = lines[line - 1] if 0 < line <= len(lines) else lines[0]
    near = row[max(column - 16, 0) : column + 15].strip()
    where = f"line {line}, column {column} of the expression" if line > 1 else f"column {column}"
    return f"not valid CEL: it cannot be read at {where} (near `{near}`)"


# -- the names an expression uses, and the paths of the inputs it reads -------------------------


def _children(tree: Any) -> list[Any]:
    return list(getattr(tree, "children", ()))


def _walk(tree: Any) -> Iterator[Any]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if hasattr(node, "data"):
            yield node
            stack.extend(reversed(_children(node)))


def _check_names(tree: Any) -> None:
    """CelError for a variable that is not an input or a macro's, or an unknown function: a
    typo (`chnage.kind`) is found by `validate`, not by the first plan that reaches it."""
    from celpy.evaluation import base_functions

    bound: set[str] = set()
    for node in _walk(tree):
        if node.data == "member_dot_arg" and str(node.children[1]) in MACROS - {"has", "dyn"}:
            args = [c for c in _children(node) if getattr(c, "data", None) == "exprlist"]
            first = _ident(args[0].children[0]) if args and args[0].children else None
            if first:
                bound.add(first)
    functions = set(base_functions) | MACROS
    for node in _walk(tree):
        if node.data == "ident":
            name = str(node.children[0])
            if name not in ROOTS and name not in bound and name not in functions:
                raise CelError(
                    f"unknown variable `{name}`: a policy sees change, env and plan",
                    line=node.meta.line,
                    column=node.meta.column,
                )
        elif node.data in ("ident_arg", "member_dot_arg"):
            name = str(node.children[0] if node.data == "ident_arg" else node.children[1])
            if name not in functions:
                raise CelError(
                    f"unknown function `{name}`", line=node.meta.line, column=node.meta.column
                )
        elif node.data in ("dot_ident", "dot_ident_arg"):
            raise CelError(
                "a leading `.` (root scope) is not supported in policies",
                line=node.meta.line,
                column=node.meta.column,
            )


def _ident(expr: Any) -> str | None:
    """The name when `expr` is a bare identifier (a macro's variable), else None."""
    node = expr
    while getattr(node, "data", None) in {
        "expr",
        "conditionalor",
        "conditionaland",
        "relation",
        "addition",
        "multiplication",
        "unary",
        "member",
        "primary",
    }:
        if len(node.children) != 1:
            return None
        node = node.children[0]
    if getattr(node, "data", None) == "ident":
        return str(node.children[0])
    return None


def _chain(node: Any) -> tuple[str, ...] | None:
    """`change.after.DestinationID` as ("change", "after", "DestinationID"), for a `member`
    node that is only field selections from an input; None for anything else."""
    names: list[str] = []
    while True:
        data = getattr(node, "data", None)
        if data == "member" and len(node.children) == 1:
            node = node.children[0]
        elif data == "member_dot":
            names.append(str(node.children[1]))
            node = node.children[0]
        elif data == "primary" and getattr(node.children[0], "data", None) == "ident":
            root = str(node.children[0].children[0])
            return (root, *reversed(names)) if root in ROOTS else None
        else:
            return None


def _paths(tree: Any) -> tuple[tuple[str, ...], ...] | None:
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
        if node.data == "member":
            chain = _chain(node)
            if chain is not None:
                found.add(chain)
                continue
        if node.data == "ident" and str(node.children[0]) in ROOTS:
            found.add((str(node.children[0]),))
        stack.extend(_children(node))
    return tuple(sorted(found))


def _case(inputs: Mapping[str, Any], paths: tuple[tuple[str, ...], ...]) -> str:
    """What the paths hold in `inputs`, as one string: equal strings, equal results."""
    held: list[Any] = []
    for path in paths:
        if path[0] not in inputs:
            held.append([0])
            continue
        value: Any = inputs[path[0]]
        depth = 1
        for name in path[1:]:
            if not isinstance(value, dict):
                break  # selecting from a non-map is an error whatever the rest says
            if name not in value:
                break  # absent: has() is false, selecting it an error
            value = value[name]
            depth += 1
        # The depth reached tells an absent key (or a non-map) from a value that is there.
        held.append([depth, value if depth == len(path) or not isinstance(value, dict) else 0])
    return json.dumps(held, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

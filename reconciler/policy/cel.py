"""CEL for policies, through cel-python (`celpy`): compile an expression once, check the names
it uses, and evaluate it for many inputs.

An expression is compiled into Python closures (policy.closures) that evaluate the plain JSON
of a change exactly as celpy would, at a few microseconds each. What they leave to celpy (a
construct the compiler does not implement, or a value no closure answers for: see
policy.values) is evaluated by celpy itself, with a memo keyed on the input paths the
expression reads (a plan whose changes look alike to a policy costs it one evaluation).

celpy is imported only here and only when it is needed: a repository without policies never
pays its start-up (lark, pendulum, re2), and with the compiled forms kept in
`.reconciler/cache/` (policy.cache) a warm plan with policies does not either."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from reconciler.policy.closures import BadForm, Compiled, build
from reconciler.policy.form import FormStore, KeptForm
from reconciler.policy.lowering import Unsupported, lower
from reconciler.policy.runtime import frame_of
from reconciler.policy.tree import CelError, check_names, paths_read
from reconciler.policy.values import Defer, Err, Fatal, Kind, tag

log = logging.getLogger(__name__)

_GUARD = threading.Lock()  # celpy's parser is one shared lark instance


@dataclass(frozen=True)
class Outcome:
    """An evaluation: `value` true or false, or `error` (then `value` is None)."""

    value: bool | None
    error: str | None = None


TRUE, FALSE = Outcome(True), Outcome(False)


@dataclass
class Program:
    """A compiled expression: its closure (None: celpy evaluates it), and the input paths its
    result depends on (None: it reads a whole variable in a way that cannot be narrowed, so
    every input is its own case), which key the memo of what celpy evaluated."""

    text: str
    compiled: Compiled | None
    paths: tuple[tuple[str, ...], ...] | None
    memo: dict[str, Outcome] = field(default_factory=dict)

    @property
    def runner(self) -> Any:
        """celpy's runner of the expression (parsed once per process, on first use)."""
        return _parsed(self.text)[0]

    @property
    def slots(self) -> int:
        """The macro variables of its frame (policy.closures.frame_of)."""
        return self.compiled.slots if self.compiled is not None else 0

    def evaluate(
        self,
        inputs: Mapping[str, Any],
        to_cel: Callable[[], Mapping[str, Any]],
        *,
        frame: list[Any] | None = None,
        native: bool = True,
    ) -> Outcome:
        """The outcome for `inputs` (plain JSON values): `to_cel()` gives the same inputs as
        CEL values, asked for only when celpy evaluates this case. `frame`: the inputs' frame
        with room for at least `slots` variables, shared by the programs of a change.
        `native` false (inputs not all CEL values here: see `native`) leaves it to celpy."""
        compiled = self.compiled
        if compiled is not None and native:
            try:
                value = compiled.run(frame_of(inputs, compiled.slots) if frame is None else frame)
            except Fatal as exc:
                value = exc.err
            except Defer:
                value = Defer
            if value is not Defer:
                return outcome(value)
        key = _case(inputs, self.paths) if self.paths is not None else None
        if key is not None and key in self.memo:
            return self.memo[key]
        try:
            activation = to_cel()
        except ValueError as exc:  # a value celpy has no type for (an int beyond 64 bits)
            return Outcome(None, f"{type(exc).__name__}: {exc}")
        found = _run(self.runner, activation)
        if key is not None:
            self.memo[key] = found
        return found


def native(value: Any) -> bool:
    """Whether `value` holds only what the compiled closures take as CEL values: JSON's, with
    ints in 64 bits (celpy refuses a larger one) and string keys."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            if not all(type(k) is str for k in item):
                return False
            stack.extend(item.values())
        elif kind is list:
            stack.extend(item)
        elif kind is int:
            if not -(2**63) <= item < 2**63:
                return False
        elif not (kind is str or kind is bool or kind is float or item is None):
            return False
    return True


def compile_expression(text: str, *, cache: FormStore | None = None) -> Program:
    """Compile `text` (once per process; from `cache` when it holds it); CelError (with the line
    and column in `text`) when it is not valid CEL or uses a name other than change, env,
    plan, a function or a macro variable."""
    known = _KNOWN.get(text)
    if known is None:
        known = _KNOWN[text] = _known(text, cache)
    elif cache is not None and cache.get(text) is None:
        cache.put(text, known.entry)
    return Program(text, known.compiled, known.entry.paths)


@dataclass(frozen=True)
class _Known:
    entry: KeptForm
    compiled: Compiled | None


_KNOWN: dict[str, _Known] = {}


def _known(text: str, cache: FormStore | None) -> _Known:
    entry = cache.get(text) if cache is not None else None
    if entry is not None:
        try:
            return _Known(entry, build(entry.form) if entry.form is not None else None)
        except BadForm as exc:  # a damaged entry: compiled again, and kept anew
            log.debug("policy cache entry for %r ignored: %s", text, exc)
    entry, compiled = _compile(text)
    if cache is not None:
        cache.put(text, entry)
    return _Known(entry, compiled)


def _compile(text: str) -> tuple[KeptForm, Compiled | None]:
    """Parse and check `text` with celpy, lower it and build its closure (None: celpy
    evaluates it)."""
    _, tree = _parsed(text)
    form: list[Any] | None = None
    compiled = None
    try:
        form = lower(tree)
        compiled = build(form)
    except Unsupported as exc:
        log.debug("policy %r is evaluated by celpy: %s", text, exc)
    except BadForm as exc:  # pragma: no cover - lowering makes only forms the compiler builds
        log.warning("policy %r is evaluated by celpy: its form %s", text, exc)
        form = None
    return KeptForm(form, paths_read(tree)), compiled


@lru_cache(maxsize=4096)
def _parsed(text: str) -> tuple[Any, Any]:
    # Each expression is parsed at most once per process, whatever the number of environments.
    from celpy.celparser import CELParseError

    with _GUARD:
        environment = _environment()
        try:
            tree = environment.compile(text)
        except CELParseError as exc:
            line, column = int(exc.line or 0), int(exc.column or 0)
            raise CelError(_syntax(text, line, column), line=line, column=column) from None
    check_names(tree)
    return environment.program(tree), tree


@lru_cache(maxsize=1)
def _environment() -> Any:
    import celpy

    return celpy.Environment()


def outcome(value: Any) -> Outcome:
    """A compiled expression's value as an outcome, worded as celpy's would be."""
    if value is True:
        return TRUE
    if value is False:
        return FALSE
    if type(value) is Err:
        return Outcome(None, value.message)
    name = _NAMES[tag(value)]
    shown = json.dumps(_jsonable(value), ensure_ascii=True)[:80]
    return Outcome(None, f"deny gave {name} {shown}, not true or false")


# type(value).__name__.removesuffix("Type").lower() of celpy's value, as _run words it.
_NAMES = {
    "N": "none",
    "B": "bool",
    "I": "int",
    "U": "uint",
    "D": "double",
    "S": "string",
    "P": "str",
    "Y": "bytes",
    "L": "list",
    "M": "map",
    "T": "type",
}


def _jsonable(value: Any) -> Any:
    # json.dumps(default=str) of celpy's values: its BoolType is an int, bytes and types their
    # str().
    if type(value) is bool:
        return int(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return bytes.__repr__(value)
    if isinstance(value, Kind):
        return value.shown
    return value


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

"""Hypothesis strategies for the differential tests of the policy compiler: CEL expressions
from a grammar of what policies use, and `change` / `env` / `plan` inputs shaped like a plan's
(organizations and providers, before/after payloads with nested lists, maps and nulls); and
both sides' results in one comparable form."""

from __future__ import annotations

import contextlib
import math
import os
import resource
import signal
import threading
from collections.abc import Iterator
from typing import Any

from hypothesis import event, reject
from hypothesis import strategies as st

from reconciler.policy.cel import _parsed, to_cel
from reconciler.policy.closures import build
from reconciler.policy.lowering import Unsupported, lower
from reconciler.policy.values import Defer, Err, Kind, PlainStr, Uint

KEYS = ["Name", "Active", "DestinationID", "Contacts", "EmailAddresses", "Address", "City", "ID"]
TEXTS = [
    "",
    "a",
    "Ann",
    "organization",
    "provider",
    "create",
    "update",
    "deactivate",
    "x@example.org",
    "@example.org",
    "Contacts[0]",
    "Address.City",
    "1",
    "-7",
    "0x1F",
    "2.5",
    "true",
    "f",
    "ü",
]
INTS = [0, 1, -1, 2, 7, 2**31, 2**63 - 1, -(2**63)]
FLOATS = [0.0, -0.0, 1.5, -2.5, 2.0, 1e308, math.inf, math.nan]

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(INTS) | st.integers(-3, 3),
    st.sampled_from(FLOATS),
    st.sampled_from(TEXTS),
)
json_values = st.recursive(
    _leaf,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(KEYS), kids, max_size=3)
    ),
    max_leaves=8,
)
payloads = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)
changes = st.fixed_dictionaries(
    {
        "action": st.sampled_from(["create", "update", "deactivate", "reactivate"]),
        "kind": st.sampled_from(["organization", "provider"]),
        "identity": st.sampled_from(["2.16.840.1.113883.3.1", "4356789876"]),
        "source": st.sampled_from(["orgs/clinic.yaml", "providers/pat.yaml"]),
        "before": st.none() | payloads,
        "after": payloads,
        # At most 5: celpy (the reference) builds its error values in nested macros in memory
        # that grows faster than exponentially in the list's length (9 items three macros
        # deep: 2.4 GB, 10: the machine's 24 GB).
        "fields": st.lists(
            st.sampled_from(["Name", "Active", "Address.City", "Contacts[0]"]), max_size=5
        ),
    }
)
inputs = st.fixed_dictionaries(
    {
        "change": changes,
        "env": st.sampled_from(["sandbox", "production"]),
        "plan": st.fixed_dictionaries(
            {a: st.integers(0, 3) for a in ("create", "update", "deactivate", "reactivate")}
        ),
    }
)

# -- expressions ---------------------------------------------------------------------------------

LITERALS = [
    *map(str, [0, 1, -1, 2, 3, 9223372036854775807, -9223372036854775808]),
    "9223372036854775808",
    "0x1F",
    "-0x10",
    "0u",
    "1u",
    "18446744073709551615u",
    "0.0",
    "1.5",
    "-2.5",
    "2.0",
    "1e308",
    '""',
    '"a"',
    '"Ann"',
    '"organization"',
    '"create"',
    '"@example.org"',
    '"1"',
    '"true"',
    r'"\x41\u00fc"',
    "'''multi\nline'''",
    'b"a"',
    'b""',
    "true",
    "false",
    "null",
]
ROOT_PATHS = [
    "change",
    "change.action",
    "change.kind",
    "change.identity",
    "change.source",
    "change.before",
    "change.after",
    "change.fields",
    "env",
    "plan",
    "plan.create",
    "plan.deactivate",
    "plan.nope",
]
TYPES = ["int", "uint", "double", "string", "bytes", "bool", "list", "map", "null_type", "type"]
BINARY = ["==", "!=", "<", "<=", ">", ">=", "in", "+", "-", "*", "/", "%", "&&", "||"]
FUNCTIONS = ["size", "int", "uint", "double", "string", "bool", "bytes", "type", "dyn"]
METHODS = ["startsWith", "endsWith", "contains", "matches"]
PATTERNS = ['"^A"', '"a+"', '"[0-9]"', '"("', '"example\\\\.org$"']
MACROS = ["all", "exists", "exists_one", "map", "filter"]
MAP_KEYS = ['"a"', '"b"', "1", "true", "change.kind"]
LEFT_TO_CELPY = [
    'duration("60s") > duration("1s")',
    'timestamp("2024-01-01T00:00:00Z").getFullYear()',
    "size",
    "list(change.fields)",
]


def wrap(text: str) -> str:
    simple = " " not in text and not text[:1].isdigit() and not text.startswith("-")
    return text if simple else f"({text})"


@st.composite
def _path(draw: st.DrawFn, scope: tuple[str, ...]) -> str:
    roots = [*ROOT_PATHS, *scope]
    base = draw(st.sampled_from(roots))
    fields = draw(st.lists(st.sampled_from(KEYS), max_size=2))
    if base.startswith(("change.before", "change.after")) or base in scope:
        return ".".join([base, *fields])
    return base


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0, scope: tuple[str, ...] = ()) -> str:
    """A CEL expression of what policies use; `scope` are the macro variables it may name."""
    atom = depth >= 3 or draw(st.integers(0, 9)) < 3 + depth * 2
    if atom:
        kind = draw(st.sampled_from(["literal", "path", "path", "path", "type"]))
        if kind == "literal":
            return draw(st.sampled_from(LITERALS))
        if kind == "type":
            return draw(st.sampled_from(TYPES))
        return draw(_path(scope))

    def sub(inner: tuple[str, ...] = scope) -> str:
        return wrap(draw(expressions(depth + 1, inner)))

    form = draw(
        st.sampled_from(
            ["binary"] * 5
            + ["not", "neg", "cond", "call", "has", "method", "size", "index"]
            + ["list", "map", "macro", "macro"]
        )
    )
    if form == "binary":
        return f"{sub()} {draw(st.sampled_from(BINARY))} {sub()}"
    if form == "not":
        return f"!{sub()}"
    if form == "neg":
        return f"-{sub()}"
    if form == "cond":
        return f"{sub()} ? {sub()} : {sub()}"
    if form == "call":
        return f"{draw(st.sampled_from(FUNCTIONS))}({draw(expressions(depth + 1, scope))})"
    if form == "has":
        return f"has({draw(_path(scope))})"
    if form == "method":
        method = draw(st.sampled_from(METHODS))
        arg = draw(st.sampled_from(PATTERNS)) if method == "matches" else sub()
        return f"{sub()}.{method}({arg})"
    if form == "size":
        return f"{sub()}.size()"
    if form == "index":
        return f"{sub()}[{draw(expressions(depth + 1, scope))}]"
    if form == "list":
        items = draw(st.lists(expressions(depth + 1, scope), max_size=3))
        return f"[{', '.join(items)}]"
    if form == "map":
        keys = draw(st.lists(st.sampled_from(MAP_KEYS), max_size=3))
        return "{" + ", ".join(f"{k}: {draw(expressions(depth + 1, scope))}" for k in keys) + "}"
    variable = f"v{len(scope)}"
    receiver = draw(
        st.sampled_from(["change.fields", "change.after.Contacts", "change.after", "[1, 2, 3]"])
        | expressions(depth + 1, scope).map(wrap)
    )
    body = draw(expressions(depth + 1, (*scope, variable)))
    return f"{receiver}.{draw(st.sampled_from(MACROS))}({variable}, {body})"


# -- celpy's budget -------------------------------------------------------------------------------


class CelpyTooCostly(BaseException):
    """celpy, the reference, ran past its budget on one example. A BaseException: celpy's own
    `except Exception` (and by_celpy's) must not turn it into a value."""


# celpy builds its error values inside macros in time and memory that grow faster than
# exponentially in the length of what a macro iterates: three nested `exists` over a 21-letter
# string took 10 s and 2.7 GB here, over a list of ten (a concatenation) more than the
# machine's 24 GB, and the kernel killed the test's worker. The grammar cannot rule every such
# case out without losing what it tests, so the reference runs within a budget instead: an
# example it cannot answer within it is rejected (hypothesis draws another), never compared,
# and it can never take the machine down.
CELPY_SECONDS = 5.0
CELPY_MEMORY = 3 << 30  # bytes of address space beyond what the process holds


def _raise_too_costly(signum: int, frame: Any) -> None:
    raise CelpyTooCostly(f"celpy took more than {CELPY_SECONDS} s")


@contextlib.contextmanager
def celpy_budget() -> Iterator[None]:
    """Run celpy within CELPY_SECONDS (in the main thread) and CELPY_MEMORY more address space;
    CelpyTooCostly past either."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm", encoding="ascii") as statm:
        held = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = held + CELPY_MEMORY
    if soft != resource.RLIM_INFINITY:
        limit = min(limit, soft)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    timed = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, _raise_too_costly) if timed else None
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, CELPY_SECONDS)
        yield
    except MemoryError:
        raise CelpyTooCostly("celpy ran out of its memory") from None
    finally:
        if timed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def within_memory(*outcomes: Any) -> None:
    """CelpyTooCostly when one of the policy outcomes (from `reconciler.policy.cel._run`, which
    fails closed on any fault of celpy's) is celpy's running out of its memory."""
    if any("MemoryError" in (outcome.error or "") for outcome in outcomes):
        raise CelpyTooCostly("celpy ran out of its memory")


@contextlib.contextmanager
def unless_celpy_too_costly() -> Iterator[None]:
    """Around one example: one that celpy cannot answer within its budget is rejected."""
    try:
        yield
    except CelpyTooCostly as exc:
        event(f"rejected: {exc}")
        reject()


# -- both sides' results in one form --------------------------------------------------------------


def celpy_value(value: Any) -> Any:
    """celpy's value, comparable with `compiled_value`'s."""
    from celpy import celtypes

    kind = type(value)
    simple = {
        celtypes.BoolType: "bool",
        celtypes.IntType: "int",
        celtypes.UintType: "uint",
        celtypes.StringType: "string",
        str: "str",
    }
    if kind in simple:
        return (simple[kind], int(value) if kind not in (str, celtypes.StringType) else str(value))
    if kind is celtypes.DoubleType:
        return ("double", float(value).hex())
    if kind is celtypes.BytesType:
        return ("bytes", bytes(value))
    if kind is celtypes.ListType:
        return ("list", tuple(celpy_value(v) for v in value))
    if kind is celtypes.MapType:
        return ("map", tuple((celpy_value(k), celpy_value(v)) for k, v in value.items()))
    if value is None:
        return ("null",)
    if isinstance(value, type):
        return ("type", repr(value))
    return ("python", kind.__name__)  # outside what the compiler answers for


def compiled_value(value: Any) -> Any:
    kind = type(value)
    simple = {bool: "bool", int: "int", Uint: "uint", str: "string", PlainStr: "str"}
    if kind in simple:
        return (simple[kind], int(value) if kind not in (str, PlainStr) else str(value))
    if kind is float:
        return ("double", value.hex())
    if kind is bytes:
        return ("bytes", value)
    if kind is list:
        return ("list", tuple(compiled_value(v) for v in value))
    if kind is dict:
        return ("map", tuple((compiled_value(k), compiled_value(v)) for k, v in value.items()))
    if value is None:
        return ("null",)
    if kind is Kind:
        return ("type", value.shown)
    raise AssertionError(f"the compiled closure gave {value!r}")


def by_celpy(text: str, values: dict[str, Any]) -> tuple[Any, ...]:
    """("value", v) or ("error", message) as celpy evaluates `text`; ("raised", ...) when it
    raises a Python exception of its own."""
    from celpy.evaluation import CELEvalError

    runner, _ = _parsed(text)
    try:
        with celpy_budget():
            found = runner.evaluate({name: to_cel(v) for name, v in values.items()})
    except CELEvalError as exc:
        if "MemoryError" in str(exc.args):  # celpy made a value of running out of memory
            raise CelpyTooCostly("celpy ran out of its memory") from None
        return ("error", str(exc.args[0]))
    except MemoryError:
        raise CelpyTooCostly("celpy ran out of its memory") from None
    except Exception as exc:
        return ("raised", type(exc).__name__)
    return ("value", celpy_value(found))


def by_compiler(text: str, values: dict[str, Any]) -> tuple[Any, ...] | None:
    """The same from the compiled closure; None when celpy must say (Defer), and
    ("unsupported",) when the expression is left to celpy whole."""
    _, tree = _parsed(text)
    try:
        form = lower(tree)
    except Unsupported:
        return ("unsupported",)
    try:
        found = build(form)(values)
    except Defer:
        return None
    if type(found) is Err:
        return ("error", found.message)
    return ("value", compiled_value(found))

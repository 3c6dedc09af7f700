"""JSON text: the canonical form and digest that equality rests on, compact packing, and a
fast writer of the indented form (the standard library drops to pure Python to indent; orjson
indents in native code, and is used wherever its text is provably the standard library's)."""

from __future__ import annotations

import functools
import gc
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


def without_gc(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` with the cyclic garbage collector paused.

    Loading, planning and rendering 100,000 records allocate millions of objects that all stay
    alive and hold no cycles: the collector would traverse the growing heap again and again
    and free nothing (a third of the time of a large plan). Reference counting still frees
    everything as usual; the collector resumes when `func` returns."""

    @functools.wraps(func)
    def paused(*args: P.args, **kwargs: P.kwargs) -> R:
        if not gc.isenabled():
            return func(*args, **kwargs)
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            gc.enable()

    return paused


# json.dumps with these arguments builds this encoder on every call: a fifth of its time for the
# small values a plan digests five times per change.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """The one text of a JSON value: equal values give equal text whatever their key order.
    (`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`.)"""
    return _CANONICAL.encode(value)


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


class Canonical(str):
    """Text known to be `canonical_json` of its value: a document that holds the value can be
    made by placing the text in it, without encoding the value again."""

    __slots__ = ()


def canonical_with_digest(envelope: Any, payload: Any) -> tuple[Canonical, str]:
    """The canonical JSON of `payload`, and `digest([envelope, payload])` made from it: the
    payload is encoded once for both (a list's canonical JSON is its items' joined by ",")."""
    text = Canonical(canonical_json(payload))
    whole = "[" + canonical_json(envelope) + "," + text + "]"
    return text, hashlib.sha256(whole.encode()).hexdigest()


def pretty_json(value: Any) -> str:
    """`json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\\n"`, several times
    faster: the standard library falls back to its pure-Python encoder whenever it indents."""
    # Joined from one piece per value two levels down (one per change of a plan), not from
    # millions of small parts: the list of parts would outweigh the text itself.
    return "".join(iter_pretty_json(value)) + "\n"


@dataclass(frozen=True)
class Streamed:
    """A list for `iter_pretty_json` whose items are made one at a time, as they are written:
    `make` applied to each of `source`."""

    source: Sequence[Any]
    make: Callable[[Any], Any]

    def __len__(self) -> int:
        return len(self.source)

    def __iter__(self) -> Iterator[Any]:
        return map(self.make, self.source)


def iter_pretty_json(value: Any, *, chunk_depth: int = 2) -> Iterator[str]:
    """The text of `pretty_json` (without the final newline) in pieces, one per value at
    `chunk_depth` (e.g. one per change of a plan), so a caller can stream a large document.
    A `Streamed` list within `chunk_depth` is written as a list of its made items, and only one
    of them is held at a time."""
    return _chunks(value, "\n", chunk_depth)


class Rendered(str):
    """JSON text already rendered by `rendered` for the nesting depth it is placed at; the pretty
    writer copies it as it is (a ledger entry, rendered once, written many times)."""


def rendered(value: Any, depth: int) -> Rendered:
    """`value` as `pretty_json` writes it `depth` levels down (two spaces a level)."""
    parts: list[str] = []
    _pretty(value, parts.append, "\n" + "  " * depth)
    return Rendered("".join(parts))


def _chunks(value: Any, newline: str, depth: int) -> Iterator[str]:
    if isinstance(value, Rendered):
        yield str(value)
        return
    if isinstance(value, Streamed) and (depth <= 0 or not value):
        value = list(value)
    if depth <= 0 or not isinstance(value, dict | list | tuple | Streamed) or not value:
        parts: list[str] = []
        _pretty(value, parts.append, newline)
        yield "".join(parts)
        return
    inner = newline + "  "
    pairs: Iterable[tuple[str, Any]]
    if isinstance(value, dict):
        opening, closing = "{", "}"
        pairs = ((_encode_key(k) + ": ", value[k]) for k in sorted(value))
    else:
        opening, closing = "[", "]"
        pairs = (("", item) for item in value)
    separator = opening + inner
    for prefix, item in pairs:
        first = True
        for piece in _chunks(item, inner, depth - 1):
            yield separator + prefix + piece if first else piece
            first = False
        separator = "," + inner
    yield newline + closing


_encode = json.encoder.encode_basestring  # the C implementation when available


def _encode_key(key: Any) -> str:
    if isinstance(key, str):
        return _encode(key)
    # json.dumps turns int, float, bool and None keys into strings too.
    return _encode(json.dumps(key)) if key is None or isinstance(key, bool) else _encode(str(key))


def _float(value: float) -> str:
    if value != value or value in (float("inf"), float("-inf")):
        return json.dumps(value)  # NaN, Infinity, -Infinity as json writes them
    return float.__repr__(value)


def _pretty(value: Any, out: Callable[[str], None], newline: str) -> None:
    """Append the indented text of `value`, `newline` starting each of its lines after the
    first: orjson's text where it is the standard library's, else the text written here."""
    fast = _native(value)
    if fast is None:
        _written(value, out, newline)
    else:
        out(fast if newline == "\n" else fast.replace("\n", newline))


class _Float(Exception):
    """A float was read: orjson's text of it may differ from the standard library's."""


def _no_float(text: str) -> float:
    raise _Float(text)


# Reads JSON back and raises _Float at the first float: the C scanner calls parse_float for
# each float it meets, and only for floats.
_READ_BACK = json.JSONDecoder(parse_float=_no_float)
_orjson: Any = None  # the module once imported; False when it is not installed


def _native(value: Any) -> str | None:
    """`value` indented by orjson, or None where its text could differ from the standard
    library's. Its compact text is read back: a float there (orjson writes 1e-05 as 0.00001)
    sends `value` the slow way, and so does text that does not read back as `value` (orjson
    writes NaN and the infinities as null, a tuple as a list). orjson refuses an integer beyond
    64 bits, a key that is not a string and a lone surrogate."""
    global _orjson
    if _orjson is None:
        try:
            import orjson  # here, not above: validate never indents, and starts without it

            _orjson = orjson
        except ImportError:  # pragma: no cover - a dependency; only a broken install lacks it
            _orjson = False
    if _orjson is False or not isinstance(value, dict | list) or not value:
        return None
    try:
        compact = _orjson.dumps(value, option=_orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return None
    try:
        if _READ_BACK.decode(compact.decode()) != value:
            return None
    except _Float:
        return None
    indented: bytes = _orjson.dumps(value, option=_orjson.OPT_INDENT_2 | _orjson.OPT_SORT_KEYS)
    return indented.decode()


def _written(value: Any, out: Callable[[str], None], newline: str) -> None:
    kind = type(value)
    if kind is dict or kind is list or kind is tuple or isinstance(value, dict | list | tuple):
        if not value:
            out("{}" if isinstance(value, dict) else "[]")
            return
        inner = newline + "  "
        is_dict = isinstance(value, dict)
        separator = ("{" if is_dict else "[") + inner
        for key in sorted(value) if is_dict else range(len(value)):
            item = value[key]
            if not is_dict:
                prefix = separator
            elif type(key) is str:
                prefix = separator + _encode(key) + ": "
            else:
                prefix = separator + _encode_key(key) + ": "
            separator = "," + inner
            # Scalars inline: most values are, and one append per value is the cost.
            leaf = type(item)
            if leaf is str:
                out(prefix + _encode(item))
            elif leaf is bool:
                out(prefix + ("true" if item else "false"))
            elif item is None:
                out(prefix + "null")
            else:
                out(prefix)
                _written(item, out, inner)
        out(newline + ("}" if is_dict else "]"))
    elif kind is str:
        out(_encode(value))
    elif value is None:
        out("null")
    elif value is True:
        out("true")
    elif value is False:
        out("false")
    elif isinstance(value, int):
        out(int.__repr__(value))
    elif isinstance(value, float):
        out(_float(value))
    else:
        raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def pack(value: Any) -> str:
    """A JSON value as compact JSON text, its key order kept (`unpack` gives it back).

    A plan of 100,000 records holds every payload: as text each takes about a quarter of the
    memory of its dicts, lists and strings (as Terraform's plans hold encoded values)."""
    return _PACK(value)


_PACK = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # built once


def unpack(text: str) -> Any:
    """The JSON value that `pack` made `text` of: a fresh copy on each call."""
    return json.loads(text)

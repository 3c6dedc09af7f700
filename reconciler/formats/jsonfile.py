"""JSON that the tool wrote, read back as strictly as the user's YAML: the ledger, saved plans,
the sandbox's journal. A hand edit, a bad merge or a hostile pull request can put anything in
them; what comes out of here is plain JSON of bounded depth, with no NaN or Infinity and no
number beyond 64 bits, or a JsonProblem saying where inside the document it went wrong.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from reconciler.errors import cut, quoted

MAX_DEPTH = 32  # levels of nesting; a ledger entry's payload needs about eight
MAX_INT_DIGITS = 20  # 2**64 has 20 digits
# Only a \\u escape can make a lone surrogate (UTF-8 cannot encode one), which no output takes.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonProblem(Exception):
    """What is wrong (`message`) and where inside the document (`where`, a dotted path; empty
    for the document as a whole)."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.where = where


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonProblem(f"holds the number {cut(text, limit=40)}, which is beyond 64 bits")
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise JsonProblem(f"holds the number {text}, which is beyond 64 bits")
    return value


def _real(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise JsonProblem(f"holds the number {cut(text, limit=40)}, which is not finite")
    return value


def _constant(name: str) -> Any:
    raise JsonProblem(f"holds {name}, which is not JSON")


def loads(raw: bytes | str, *, depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `raw`; JsonProblem when it is not strict, bounded JSON (nested at most
    `depth` levels: less for a part of a document read on its own)."""
    try:
        value = json.loads(raw, parse_int=_integer, parse_float=_real, parse_constant=_constant)
    except RecursionError:
        raise JsonProblem(f"nests more than {MAX_DEPTH} levels deep") from None
    except UnicodeDecodeError as exc:
        raise JsonProblem(f"is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise JsonProblem(
            f"is not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # only from the number hooks: a text of digits too long to read
        raise JsonProblem(f"is not JSON: {cut(str(exc))}") from None
    where = too_deep(value, depth)
    if where is not None:
        raise JsonProblem(f"nests more than {depth} levels deep", where)
    escaped = (
        _SURROGATE_ESCAPE.search(raw)
        if isinstance(raw, str)
        else _SURROGATE_ESCAPE_BYTES.search(raw)  # no decoded copy of a large file
    )
    if escaped:
        where = lone_surrogate(value)
        if where is not None:
            raise JsonProblem(
                "holds a lone surrogate (a \\ud800 to \\udfff escape), not text", where
            )
    return value


def lone_surrogate(value: Any, path: tuple[Any, ...] = ()) -> str | None:
    """The path of a text (key or value) holding a lone surrogate, or None."""
    if isinstance(value, str):
        return dotted(path) if _SURROGATE.search(value) else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and _SURROGATE.search(key):
            return dotted((*path, "<key>"))
        found = lone_surrogate(item, (*path, key))
        if found is not None:
            return found
    return None


def too_deep(value: Any, limit: int) -> str | None:
    """The path of a value nested more than `limit` levels deep in `value`, or None. Only the
    lists and mappings are visited, level by level and without building paths (a ledger of
    100,000 records is walked in a fraction of the time json takes to read it); the path is
    looked for only once the answer is known to be yes."""
    if not _deeper_than(value, limit):
        return None
    path: list[Any] = []
    for depth in range(1, limit):
        items = value.items() if type(value) is dict else enumerate(value)
        key, value = next((k, v) for k, v in items if _deeper_than(v, limit - depth))
        path.append(key)
    return dotted(path)


_NESTING = (dict, list)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and mappings nest more than `limit` levels in `value`."""
    level = [value] if type(value) in _NESTING else []
    for _depth in range(limit):
        below: list[Any] = []
        for item in level:
            below += [
                v for v in (item.values() if type(item) is dict else item) if type(v) in _NESTING
            ]
        if not below:
            return False
        level = below
    return True


def dotted(loc: Sequence[Any]) -> str:
    """`records["organization:1.2"].payload.Identifiers[0]`, each key cut short."""
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        elif isinstance(step, str) and step.isidentifier():
            text += f".{step}" if text else step
        else:
            text += f"[{quoted(step, limit=60)}]"
    return text


def first_error(exc: ValidationError) -> JsonProblem:
    """The first error of a model's validation, as a JsonProblem at its path."""
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"])
    if "input" in error and error["type"] not in {"missing"}:
        message += f" (got {quoted(error['input'], limit=60)})"
    return JsonProblem(message, dotted(error["loc"]))

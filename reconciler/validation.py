"""Turn pydantic's validation errors into Problems a person can act on, with file and line."""

from __future__ import annotations

import difflib
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from reconciler.errors import Problem
from reconciler.yamlfile import line_of

_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}


def problems_from(
    exc: ValidationError,
    file: str,
    node: yaml.Node | None,
    *,
    model: type[BaseModel] | None = None,
    subject: str = "",
) -> list[Problem]:
    """One Problem per pydantic error, on the line of the offending key or value."""
    problems: list[Problem] = []
    seen: set[tuple[int, str]] = set()
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        kind = error["type"]
        at = _dotted(loc) or "the record"
        if kind == "extra_forbidden":
            line = line_of(node, loc, key=True)
            message = f"unknown key {loc[-1]!r}{_suggestion(model, loc)}"
            if loc[:-1]:
                message += f" (in {_dotted(loc[:-1])})"
        elif kind == "missing":
            line = line_of(node, loc[:-1])
            message = f"missing required key {loc[-1]!r}"
            if loc[:-1]:
                message += f" (in {_dotted(loc[:-1])})"
        else:
            line = line_of(node, loc)
            message = f"{at}: {_describe(error)}"
        if (line, message) not in seen:
            seen.add((line, message))
            problems.append(Problem(file, line, message, subject=subject))
    return problems


def _dotted(loc: tuple[Any, ...]) -> str:
    """contacts[0].phone_number.work"""
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _describe(error: Any) -> str:
    kind: str = error["type"]
    value = error.get("input")
    if kind in {"string_type", "int_type", "float_type", "bool_type"}:
        wanted = {"string_type": "text", "int_type": "a whole number", "float_type": "a number"}
        want = wanted.get(kind, "true or false")
        got = _NAMES.get(type(value), type(value).__name__)
        hint = f': put it in quotes ("{value}")' if kind == "string_type" and _scalar(value) else ""
        return f"expected {want}, got {got} {value!r}{hint}"
    if kind in {"list_type", "dict_type", "model_type", "model_attributes_type"}:
        shape = "a list" if kind == "list_type" else "a mapping of keys"
        return f"expected {shape}, got {type(value).__name__} {value!r}"
    if kind == "literal_error":
        return f"{value!r} is not allowed: {error['ctx']['expected']}"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long ({len(value)} characters; at most {error['ctx']['max_length']})"
    return str(error["msg"])


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float | bool)


def _suggestion(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """'; did you mean 'part_of'?' for a near-miss of a key that the model knows."""
    fields = _fields_at(model, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    if close:
        return f": did you mean {close[0]!r}?"
    return ": remove it or check its spelling" if fields else ""


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the sub-model at `loc`, following the model's annotations."""
    current: Any = model
    for step in loc:
        if isinstance(step, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(step))
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside `X | None`, `list[X]` and the like, if there is one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_in(arg)
        if found is not None:
            return found
    return None

"""Turn pydantic's validation errors into Problems a person can act on, with file and line."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from reconciler.errors import Problem, quoted
from reconciler.formats.yamlfile import Yaml11Word, line_of, node_at
from reconciler.kinds.fields import pattern_message
from reconciler.model import wire_name

_NAMES = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}
_SHAPES = {yaml.MappingNode: "mapping", yaml.SequenceNode: "list", yaml.ScalarNode: "scalar"}


def problems_from(
    exc: ValidationError,
    file: str,
    node: yaml.Node | None,
    *,
    model: type[BaseModel] | None = None,
    subject: str = "",
) -> list[Problem]:
    """One Problem per pydantic error, on the line of the key whose value is wrong (a missing
    key: the line of the key that holds the mapping it is missing from)."""
    problems: list[Problem] = []
    seen: set[tuple[int, str]] = set()
    for loc, kind, error in _errors(exc, node, model):
        at = _dotted(loc) or "the record"
        if kind == "extra_forbidden":
            line = line_of(node, loc, key=True)
            message = f"unknown key {quoted(loc[-1])}{_suggestion(model, loc)}"
            if loc[:-1]:
                message += f" (in {_dotted(loc[:-1])})"
        elif kind == "missing":
            line = line_of(node, loc[:-1], key=True)
            message = f"missing required key {loc[-1]!r}"
            if loc[:-1]:
                message += f" (in {_dotted(loc[:-1])})"
            message += _hint(_field(model, loc), str(loc[-1]))
        else:
            line = line_of(node, loc, key=True)
            message = f"{at}: {_describe(error, node_at(node, loc), _field(model, loc))}"
        if (line, message) not in seen:
            seen.add((line, message))
            problems.append(Problem(file, line, message, subject=subject))
    return problems


def _errors(
    exc: ValidationError, node: yaml.Node | None, model: type[BaseModel] | None
) -> list[tuple[tuple[Any, ...], str, Any]]:
    """(location, type, error) of each error, without pydantic's union-member steps in the
    location; of a union's members, only the errors of those that fit the shape written (a
    mapping, a list or a scalar) are kept, and one error stands for a value that fits none."""
    plain: list[tuple[tuple[Any, ...], str, Any]] = []
    unions: dict[tuple[Any, ...], list[tuple[tuple[Any, ...], str, Any, str, Any]]] = {}
    for error in exc.errors(include_url=False):
        loc, union = _clean(model, tuple(error["loc"]))
        if union is None:
            plain.append((loc, error["type"], error))
        else:
            at, shape, annotation = union
            unions.setdefault(at, []).append((loc, error["type"], error, shape, annotation))
    for at, errors in unions.items():
        written = _SHAPES.get(type(node_at(node, at))) if node is not None else None
        fitting = [e for e in errors if written is None or e[3] == written]
        if fitting:
            plain.extend((loc, kind, error) for loc, kind, error, _shape, _ann in fitting)
            continue
        value = next((e[2].get("input") for e in errors if e[0] == at), None)
        wanted = _union_description(errors[0][4])
        got = f"{_NAMES.get(type(value), type(value).__name__)} {quoted(value)}"
        plain.append((at, "union", {"msg": f"expected {wanted}, got {got}", "input": value}))
    return plain


def _clean(
    model: type[BaseModel] | None, loc: tuple[Any, ...]
) -> tuple[tuple[Any, ...], tuple[tuple[Any, ...], str, Any] | None]:
    """The location without union-member steps, and (location, member shape, annotation) of
    the union it went through, if any."""
    if model is None:
        return loc, None
    clean: list[Any] = []
    union: tuple[tuple[Any, ...], str, Any] | None = None
    current: Any = model
    for step in loc:
        current = _unwrap(current)
        members = _members(current)
        if len(members) > 1:
            shape, chosen = _pick(members, step)
            if union is None:
                union = (tuple(clean), shape, current)
            current = chosen
            continue
        clean.append(step)
        current = _child(members[0] if members else current, step)
    return tuple(clean), union


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _members(annotation: Any) -> list[Any]:
    """The non-null members of a union (one item for `X | None`; [] for a non-union)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(annotation) if a is not type(None)]
    return []


def _shape(annotation: Any) -> str:
    origin = typing.get_origin(annotation) or annotation
    if origin is dict or (isinstance(origin, type) and issubclass(origin, BaseModel)):
        return "mapping"
    return "list" if origin is list else "scalar"


def _pick(members: list[Any], step: Any) -> tuple[str, Any]:
    """The union member that pydantic's location step names (`OrgType`, `dict[...]`, `str`)."""
    for member in members:
        origin = typing.get_origin(member) or member
        name = getattr(origin, "__name__", "")
        if (isinstance(origin, type) and issubclass(origin, BaseModel) and name == step) or (
            isinstance(step, str) and name in {"dict", "list"} and step.startswith(name + "[")
        ):
            return _shape(member), member
    return "scalar", None


def _child(annotation: Any, step: Any) -> Any:
    """The annotation one step (a field name, a list index, a mapping key) further down."""
    annotation = _unwrap(annotation)
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field = annotation.model_fields.get(str(step))
        return field.annotation if field is not None else None
    if origin is list:
        return typing.get_args(annotation)[0]
    if origin is dict:
        return typing.get_args(annotation)[1]
    return None


def _union_description(annotation: Any) -> str:
    """`text, a mapping of keys or null` for `str | dict[str, str] | None`."""
    words: list[str] = []
    for member in _members(annotation):
        if typing.get_origin(member) is typing.Literal:
            words.append(" or ".join(repr(v) for v in typing.get_args(member)))
        elif _shape(member) == "mapping":
            words.append("a mapping of keys")
        elif _shape(member) == "list":
            words.append("a list")
        else:
            words.append(_NAMES.get(member, getattr(member, "__name__", str(member))))
    if type(None) in typing.get_args(annotation):
        words.append("null")
    unique = list(dict.fromkeys(words))
    return ", ".join(unique[:-1]) + " or " + unique[-1] if len(unique) > 1 else unique[0]


def _dotted(loc: tuple[Any, ...]) -> str:
    """contacts[0].phone_number.work"""
    text = ""
    for step in loc:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def _describe(error: Any, node: yaml.Node | None, field: FieldInfo | None) -> str:
    kind: str = error.get("type", "")
    value = error.get("input")
    if isinstance(value, Yaml11Word):
        return (
            f"{value.text} unquoted is a boolean to YAML 1.1 (PyYAML) and text to YAML 1.2 "
            f'(editors): write true or false, or quote the text ("{value.text}")'
        )
    if kind == "string_pattern_mismatch" and isinstance(value, str):
        worded = pattern_message(error["ctx"]["pattern"], value)
        if worded is not None:
            return worded
    if kind == "too_short" and not value:
        described = field.description if field is not None else None
        return "must not be empty" + (f": {described}" if described else "")
    if kind in {"string_type", "int_type", "float_type", "bool_type"}:
        wanted = {"string_type": "text", "int_type": "a whole number", "float_type": "a number"}
        want = wanted.get(kind, "true or false")
        got = _NAMES.get(type(value), type(value).__name__)
        # As written, not as YAML read it: 01234 is the number 668 to YAML 1.1, 1.50 is 1.5.
        written = isinstance(node, yaml.ScalarNode) and not isinstance(value, str)
        shown = str(node.value) if written and node is not None else quoted(value)
        hint = f': put it in quotes ("{shown}")' if kind == "string_type" and _scalar(value) else ""
        return f"expected {want}, got {got} {shown}{hint}"
    if kind in {"list_type", "dict_type", "model_type", "model_attributes_type"}:
        shape = "a list" if kind == "list_type" else "a mapping of keys"
        return f"expected {shape}, got {type(value).__name__} {quoted(value)}"
    if kind == "literal_error":
        return f"{quoted(value)} is not allowed: write {error['ctx']['expected']}"
    if kind == "value_error":
        # The field rules quote the value in full: cut it here, once for all of them.
        text = str(error["ctx"]["error"])
        return text.replace(repr(value), quoted(value)) if isinstance(value, str) else text
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "string_too_long":
        return f"is too long ({len(value)} characters; at most {error['ctx']['max_length']})"
    return str(error["msg"])


def _hint(field: FieldInfo | None, key: str) -> str:
    """What to write for a missing key: its values when it has a closed list of them, and why
    it is needed (the field's description)."""
    if field is None:
        return ""
    values = [v for m in _literals(field.annotation) for v in typing.get_args(m)]
    hint = ": write " + " or ".join(f"{key}: {v}" for v in values) if values else ""
    if field.description:
        hint += f" ({field.description})" if hint else f": {field.description}"
    return hint


def _literals(annotation: Any) -> list[Any]:
    annotation = _unwrap(annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return [annotation]
    return [m for m in _members(annotation) if typing.get_origin(m) is typing.Literal]


def _field(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> FieldInfo | None:
    """The pydantic field at `loc` (None when `loc` ends at a list item or a mapping value)."""
    if model is None or not loc:
        return None
    current: Any = model
    for step in loc[:-1]:
        current = _child(_container(current), step)
    container = _container(current)
    if isinstance(container, type) and issubclass(container, BaseModel):
        return container.model_fields.get(str(loc[-1]))
    return None


def _scalar(value: Any) -> bool:
    return isinstance(value, int | float | bool)


def _suggestion(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> str:
    """'; did you mean 'part_of'?' for a near-miss of a key that the model knows."""
    fields = _fields_at(model, loc[:-1])
    by_redox_name = {wire_name(f): f for f in fields}
    if loc[-1] in by_redox_name:
        return f": did you mean {by_redox_name[loc[-1]]!r}?"
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    if close:
        return f": did you mean {close[0]!r}?"
    return ": remove it or check its spelling" if fields else ""


def _fields_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The field names of the sub-model at `loc`, following the model's annotations."""
    current: Any = model
    for step in loc:
        current = _child(_container(current), step)
    current = _container(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _container(annotation: Any) -> Any:
    """Of a union, the member that holds keys or items (`OrgType` of `Literal[...] | OrgType`)."""
    annotation = _unwrap(annotation)
    members = _members(annotation)
    if members:
        return next((m for m in members if _shape(m) != "scalar"), members[0])
    return annotation

"""Read one YAML file into plain values, keeping the node tree so problems get line numbers.

Only plain mappings, lists and scalars are accepted: a tag such as `!!python/object`, a
duplicate key or a merge key is a problem, never executed or silently resolved. Reading is
bounded: only a regular file inside the repository and under the size limit is read (files.py),
aliases are refused (an alias bomb expands a kilobyte into gigabytes), nesting is capped, and
a number beyond 64 bits must be quoted.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import Problem, cut, quoted
from reconciler.formats import files

try:  # libyaml's parser is several times faster; the pure-Python one gives the same nodes
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

_SCALARS = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"


class YamlProblem(Exception):
    """A file that is not a plain YAML document; carries the line and the message."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


MAX_DEPTH = 32  # levels of nesting; a record needs about six
MAX_NUMBER_CHARS = 32  # an unquoted number longer than this is text that lacks its quotes


def read(
    path: Path,
    shown: str,
    *,
    root: Path | None = None,
    limit: int | None = files.MAX_FILE_BYTES,
    raw: bytes | None = None,
) -> tuple[Any, yaml.Node | None]:
    """Plain values and the node tree of one file; YamlProblem (with a line, 0 when the file is
    not read at all) when unreadable. `root` (resolved) is the folder no symlink may leave
    (default: the file's own folder); `limit` the most bytes read; `raw` the file's bytes when
    they were read already (through files.read_bytes, as here)."""
    if raw is None:
        try:
            raw = files.read_bytes(path, root=root or path.parent.resolve(), limit=limit)
        except files.Unreadable as exc:
            raise YamlProblem(0, str(exc)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(
            line, f"is not UTF-8 (byte 0x{raw[exc.start]:02x}): save {shown} as UTF-8"
        ) from None
    return parse(text)


def parse(text: str) -> tuple[Any, yaml.Node | None]:
    """Plain values and the node tree of a YAML text."""
    try:
        if "*" in text:  # only then can it hold an alias (cheap to rule out for most files)
            _refuse_aliases(text)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = exc.problem or exc.context or "cannot be parsed"
        start = exc.context_mark
        if exc.problem and exc.context and start is not None and mark and start.line != mark.line:
            what += f" ({exc.context} that starts on line {start.line + 1})"
        if "expected a single document" in str(exc):
            what = "holds more than one YAML document (---): keep one record per file"
        raise YamlProblem(line, f"is not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(1, f"is not valid YAML: {exc}") from None
    if node is None:
        return None, None
    return _value(node, 0), node


def _refuse_aliases(text: str) -> None:
    # The composed tree shares an aliased node without saying where the alias was written:
    # the events say, and reading them is linear in the text (nothing is expanded).
    previous = None
    for event in yaml.parse(text, Loader=_Loader):
        merge = isinstance(previous, yaml.ScalarEvent) and previous.value == "<<"
        previous = event
        if isinstance(event, yaml.AliasEvent) and not merge:  # a merge key has its own problem
            raise YamlProblem(
                event.start_mark.line + 1 if event.start_mark else 1,
                f"uses the YAML alias *{cut(event.anchor or '', limit=40)}: write the value "
                "out in full (aliases are refused, so that a small file cannot expand into a "
                "huge one)",
            )


_STR, _NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP, _SEQ, _MAP, _MERGE = (
    _TAG + name
    for name in ("str", "null", "bool", "int", "float", "timestamp", "seq", "map", "merge")
)
_SHARED_UP_TO = 40  # characters: keys and short values that repeat across files


def _text(node: yaml.ScalarNode) -> str:
    # Keys and short values (cities, states, purposes, types) repeat across thousands of files:
    # one shared copy of each keeps a large repository's memory down.
    text: str = node.value
    return sys.intern(text) if len(text) <= _SHARED_UP_TO else text


def _value(node: yaml.Node, depth: int) -> Any:
    if isinstance(node, yaml.ScalarNode):
        if (word := _yaml11_word(node)) is not None:
            return word
        return _text(node) if node.tag == _STR else _scalar(node)
    if depth >= MAX_DEPTH:
        raise YamlProblem(
            node.start_mark.line + 1,
            f"nests lists and mappings more than {MAX_DEPTH} levels deep: a record needs a few",
        )
    if isinstance(node, yaml.SequenceNode):
        if node.tag != _SEQ:
            raise _tag_problem(node)
        return [_value(item, depth + 1) for item in node.value]
    if isinstance(node, yaml.MappingNode):
        if node.tag != _MAP:
            raise _tag_problem(node)
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                raise YamlProblem(line, "uses a merge key (<<): write the keys out in full")
            key = _value(key_node, depth + 1)
            if not isinstance(key, str):
                raise YamlProblem(line, f"has the key {quoted(key)}: keys must be plain names")
            if key in first_line:
                raise YamlProblem(
                    line,
                    f"has the key {quoted(key)} twice (lines {first_line[key]} and {line}): "
                    "keep one",
                )
            first_line[key] = line
            result[key] = _value(value_node, depth + 1)
        return result
    raise _tag_problem(node)  # pragma: no cover - compose yields only the three node types


def _scalar(node: yaml.ScalarNode) -> Any:
    tag = node.tag
    if tag == _STR:
        return _text(node)
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return _SCALARS.construct_yaml_bool(node)
    if tag == _INT:
        return _number(node, _SCALARS.construct_yaml_int)
    if tag == _FLOAT:
        return _number(node, _SCALARS.construct_yaml_float)
    if tag == _TIMESTAMP:
        return node.value  # dates stay text: the wire carries ISO 8601 strings
    raise _tag_problem(node)


def _number(node: yaml.ScalarNode, construct: Any) -> int | float:
    """An unquoted number within 64 bits (and finite); YamlProblem otherwise. The length is
    checked first: Python refuses to read an integer of more than 4,300 digits, and text
    that long is never a number a record means."""
    text: str = node.value
    value: int | float | None = None
    if len(text) <= MAX_NUMBER_CHARS:
        value = construct(node)
        if isinstance(value, int) and -(2**63) <= value < 2**64:
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
    raise YamlProblem(
        node.start_mark.line + 1,
        f"has the number {cut(text, limit=40)}, which is "
        + ("not finite" if isinstance(value, float) else "beyond 64 bits")
        + ": put it in quotes if it is text",
    )


YAML11_WORDS = frozenset({"yes", "no", "on", "off", "y", "n"})


class Yaml11Word:
    """An unquoted yes, no, on, off, y or n (any case): a boolean to PyYAML and YAML 1.1, text
    to YAML 1.2 editors. It stands in for the value, neither a bool nor text, so that no field
    accepts it and validation reports it at its own line."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _yaml11_word(node: yaml.ScalarNode) -> Yaml11Word | None:
    if node.style or len(node.value) > 3 or node.value.lower() not in YAML11_WORDS:
        return None
    return Yaml11Word(node.value)


def _tag_problem(node: yaml.Node) -> YamlProblem:
    return YamlProblem(
        node.start_mark.line + 1,
        f"uses the YAML tag {node.tag.replace(_TAG, '!!')}: records hold only plain mappings, "
        "lists and scalars; remove the tag",
    )


def line_of(node: yaml.Node | None, loc: Sequence[int | str], *, key: bool = False) -> int:
    """The line of the value at `loc` (or of its key, with key=True); the nearest found parent's
    line when the path goes further than the file (a missing key)."""
    if node is None:
        return 1
    line = node.start_mark.line + 1
    for step in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == step), None)
            if match is None:
                return line
            line = (match[0] if key else match[1]).start_mark.line + 1
            node = match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            if step >= len(node.value):
                return line
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def node_at(node: yaml.Node | None, loc: Sequence[int | str]) -> yaml.Node | None:
    """The node of the value at `loc`, or None when the file does not go that far."""
    for step in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == step), None)
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value)
        ):
            node = node.value[step]
        else:
            return None
    return node


def top_level_lines(node: yaml.Node | None, keys: Collection[str]) -> dict[str, int]:
    """Top-level key -> line of its key, for those of `keys` the file has (kept with each
    record for problems across records)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if k.value in keys}


def problem(file: str, exc: YamlProblem) -> Problem:
    """A YamlProblem as a Problem of `file`."""
    return Problem(file, exc.line, f"the file {exc.message}")

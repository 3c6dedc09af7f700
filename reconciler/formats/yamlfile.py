"""Read one YAML file into plain values, keeping the node tree so problems get line numbers.

Only plain mappings, lists and scalars are accepted: a tag such as `!!python/object`, a
duplicate key or a merge key is a problem, never executed or silently resolved. Reading is
bounded: only a regular file inside the repository and under the size limit is read (files.py),
aliases are refused (an alias bomb expands a kilobyte into gigabytes), nesting is capped, and
a number beyond 64 bits must be quoted.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import yaml

from reconciler.errors import Problem, cut, quoted
from reconciler.formats import files

_SCALARS = yaml.constructor.SafeConstructor()
_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT, _FLOAT, _TIMESTAMP, _SEQ, _MAP, _MERGE = (
    _TAG + name
    for name in ("str", "null", "bool", "int", "float", "timestamp", "seq", "map", "merge")
)
# The tag the composer below gives a plain scalar without one: _value resolves it, with
# PyYAML's own table (YAML 1.1: `1` an int, `~` null, ...), as a SafeLoader would have.
_PLAIN = "?plain"
_IMPLICIT: dict[str, list[tuple[str, Any]]] = yaml.resolver.Resolver.yaml_implicit_resolvers

_Composer: Any = None
if yaml.__with_libyaml__:  # pragma: no branch - how PyYAML was built
    from yaml._yaml import CParser

    class _LibyamlComposer(CParser):
        """libyaml's parser and composer, with the resolver left out: PyYAML's resolver is
        Python, called for every scalar, and runs a regular expression or two on each; here a
        scalar is only marked plain or not, and _value resolves the plain ones that could be
        something other than text (one dictionary look-up for the others)."""

        # Called for every node, and unused without path resolvers: built-in functions of the
        # same arity cost a fraction of a Python method's call.
        descend_resolver = staticmethod(operator.is_)
        ascend_resolver = staticmethod(tuple)

        def resolve(self, kind: Any, value: Any, implicit: tuple[bool, bool]) -> str:
            if kind is yaml.ScalarNode:
                return _PLAIN if implicit[0] else _STR
            return _SEQ if kind is yaml.SequenceNode else _MAP

    _Composer = _LibyamlComposer


class YamlProblem(Exception):
    """A file that is not a plain YAML document; carries the line and the message."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


MAX_DEPTH = 32  # levels of nesting; a record needs about six
MAX_NUMBER_CHARS = 32  # an unquoted number longer than this is text that lacks its quotes


def read(
    path: Path | str,
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
            root = root or Path(path).parent.resolve()
            raw = files.read_bytes(path, root=root, limit=limit)
        except files.Unreadable as exc:
            raise YamlProblem(0, str(exc)) from None
    try:
        raw.decode("utf-8-sig")  # libyaml reads the bytes; this names the first bad one
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(
            line, f"is not UTF-8 (byte 0x{raw[exc.start]:02x}): save {shown} as UTF-8"
        ) from None
    return parse(raw)


def parse(text: str | bytes) -> tuple[Any, yaml.Node | None]:
    """Plain values and the node tree of a YAML text (or of its UTF-8 bytes)."""
    try:
        if _may_alias(text):
            _refuse_aliases(text)
        node = _compose(text)
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


def _may_alias(text: str | bytes) -> bool:
    """Whether the text has a `*`, without which it holds no alias (cheap to rule out)."""
    return "*" in text if isinstance(text, str) else b"*" in text


def _compose(text: str | bytes) -> yaml.Node | None:
    if _Composer is None:  # pragma: no cover - PyYAML built without libyaml
        return yaml.compose(text, Loader=yaml.SafeLoader)
    node: yaml.Node | None = _Composer(text).get_single_node()
    return node


def _refuse_aliases(text: str | bytes) -> None:
    # The composed tree shares an aliased node without saying where the alias was written:
    # the events say, and reading them is linear in the text (nothing is expanded).
    previous = None
    loader = yaml.CSafeLoader if _Composer is not None else yaml.SafeLoader
    for event in yaml.parse(text, Loader=loader):
        merge = isinstance(previous, yaml.ScalarEvent) and previous.value == "<<"
        previous = event
        if isinstance(event, yaml.AliasEvent) and not merge:  # a merge key has its own problem
            raise YamlProblem(
                event.start_mark.line + 1 if event.start_mark else 1,
                f"uses the YAML alias *{cut(event.anchor or '', limit=40)}: write the value "
                "out in full (aliases are refused, so that a small file cannot expand into a "
                "huge one)",
            )


_SHARED_UP_TO = 40  # characters: keys and short values that repeat across files
_intern = sys.intern
_Scalar, _Sequence, _Mapping = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode


def _tag_of(node: yaml.ScalarNode) -> str:
    """A scalar's tag; a plain one resolved as PyYAML's Resolver does (the first implicit
    resolver, by the text's first character, whose pattern matches; else text)."""
    tag: str = node.tag
    if tag is not _PLAIN:
        return tag
    value: str = node.value
    for resolved, pattern in _IMPLICIT.get(value[:1], ()):
        if pattern.match(value):
            return resolved
    return _STR


def _value(node: yaml.Node, depth: int) -> Any:
    """The plain value of a node. Written for speed (it runs for every node of every file):
    scalars, most of which are text, are read inline rather than through calls."""
    kind = type(node)
    if kind is _Scalar:
        return _scalar_value(node)  # type: ignore[arg-type]
    if depth >= MAX_DEPTH:
        raise YamlProblem(
            node.start_mark.line + 1,
            f"nests lists and mappings more than {MAX_DEPTH} levels deep: a record needs a few",
        )
    deeper = depth + 1
    if kind is _Sequence:
        if node.tag != _SEQ:
            raise _tag_problem(node)
        return [
            _scalar_value(item) if type(item) is _Scalar else _value(item, deeper)
            for item in node.value
        ]
    if kind is _Mapping:
        if node.tag != _MAP:
            raise _tag_problem(node)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is _Scalar and key_node.value != "<<":
                key = _scalar_value(key_node)
                if type(key) is not str:
                    raise _not_a_name(key_node, key)
            else:
                key = _key(key_node, depth)
            if key in result:
                raise _twice(node.value, key_node, key)
            result[key] = (
                _scalar_value(value_node)
                if type(value_node) is _Scalar
                else _value(value_node, deeper)
            )
        return result
    raise _tag_problem(node)  # pragma: no cover - compose yields only the three node types


def _key(key_node: yaml.Node, depth: int) -> str:
    """A key that is a collection, or that might be a merge key."""
    if isinstance(key_node, _Scalar) and _tag_of(key_node) == _MERGE:
        raise YamlProblem(
            key_node.start_mark.line + 1, "uses a merge key (<<): write the keys out in full"
        )
    key = _value(key_node, depth + 1)
    if not isinstance(key, str):
        raise _not_a_name(key_node, key)
    return key


def _not_a_name(key_node: yaml.Node, key: Any) -> YamlProblem:
    return YamlProblem(
        key_node.start_mark.line + 1, f"has the key {quoted(key)}: keys must be plain names"
    )


def _twice(pairs: list[tuple[yaml.Node, yaml.Node]], key_node: yaml.Node, key: str) -> YamlProblem:
    """The problem of a key written twice (found without keeping each key's line)."""
    line = key_node.start_mark.line + 1
    first = next(k for k, _ in pairs if _plain_key(k) == key)
    return YamlProblem(
        line,
        f"has the key {quoted(key)} twice (lines {first.start_mark.line + 1} and {line}): keep one",
    )


def _plain_key(node: yaml.Node) -> Any:
    try:
        return _value(node, 0)
    except YamlProblem:
        return None


def _scalar_value(node: yaml.ScalarNode) -> Any:
    value: str = node.value
    tag = node.tag
    # The common cases first, in a few operations: quoted text, and plain text whose first
    # character starts no other YAML 1.1 type (nor a yes/no word: y, n and o start types).
    if (tag is _STR and node.style) or (tag is _PLAIN and value[:1] not in _IMPLICIT):
        # Keys and short values (cities, states, purposes, types) repeat across thousands
        # of files: one shared copy of each keeps a large repository's memory down.
        return _intern(value) if len(value) <= _SHARED_UP_TO else value
    if not node.style and len(value) <= 3 and value.lower() in YAML11_WORDS:
        return Yaml11Word(value)
    tag = _tag_of(node)
    if tag == _STR:
        return _intern(value) if len(value) <= _SHARED_UP_TO else value
    return _scalar(node, tag)


def _scalar(node: yaml.ScalarNode, tag: str) -> Any:
    try:
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return _SCALARS.construct_yaml_bool(node)
        if tag == _INT:
            return _number(node, _SCALARS.construct_yaml_int)
        if tag == _FLOAT:
            return _number(node, _SCALARS.construct_yaml_float)
    except (ValueError, KeyError):  # an explicit tag on text that is not of its type
        raise YamlProblem(
            node.start_mark.line + 1,
            f"has the value {quoted(node.value)} tagged {tag.replace(_TAG, '!!')}, which it is "
            "not: remove the tag",
        ) from None
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

"""yamlfile's fast reading (libyaml's composer, plain scalars resolved by the walk) gives what
PyYAML's own SafeLoader composer and resolver give: the same values, the same problems on the
same lines."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.formats import yamlfile

# Plain scalars of every YAML 1.1 type and the look-alikes around them.
WORDS = [
    "text", "Northwind", "n", "N", "y", "Y", "yes", "No", "ON", "off", "Off", "oFF", "true",
    "True", "FALSE", "null", "Null", "NULL", "~", "nan", ".nan", ".NaN", ".inf", "-.inf",
    "1", "-1", "+1", "0", "007", "0o7", "0x1F", "0b101", "1_000", "1:30", "1.5", "1.", "1e5",
    "1.5e+3", "6.8523015e+5", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "=", "<<",
    "18446744073709551616", "1" * 40, "+16085551000", "53704", "2.16.840.1.113883", "0.1.2",
    "-", "a b", "x:y", "@at", "%pct", "long " * 12,
]  # fmt: skip
STYLES = ["{}", "'{}'", '"{}"', "!!str {}", "!!int {}", "! {}", "|\n  {}\n"]


def _scalar(word: str, style: str) -> str:
    if word in {"@at", "%pct", "-", "=", "<<"} and style in {"{}", "! {}", "!!str {}", "!!int {}"}:
        word = "x" + word  # not a valid plain scalar at the start of a value
    return style.format(word)


scalars = st.builds(_scalar, st.sampled_from(WORDS), st.sampled_from(STYLES))
keys = st.one_of(
    st.sampled_from(["oid", "name", "on", "y", "n", "null", "1", "<<", "'<<'", "a", "b", "c"]),
    st.builds(lambda w: f"'{w}'", st.sampled_from(WORDS[:12])),
)


@st.composite
def documents(draw: st.DrawFn, depth: int = 0) -> str:
    """A block mapping of a few keys: scalars, flow lists and nested mappings."""
    lines = []
    indent = "  " * depth
    for key in draw(st.lists(keys, min_size=1, max_size=5)):
        kind = draw(st.sampled_from(["scalar", "scalar", "list", "map"] if depth < 2 else ["s"]))
        if kind == "list":
            items = draw(st.lists(scalars.filter(lambda s: "\n" not in s), max_size=3))
            lines.append(f"{indent}{key}: [{', '.join(items)}]")
        elif kind == "map":
            lines.append(f"{indent}{key}:")
            lines.append(draw(documents(depth + 1)))
        else:
            value = draw(scalars)
            lines.append(f"{indent}{key}: {value.replace(chr(10), chr(10) + indent)}")
    return "\n".join(lines)


def _outcome(text: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    with monkeypatch.context() as patch:
        if not fast:
            patch.setattr(yamlfile, "_Composer", None)  # PyYAML's pure-Python SafeLoader
        try:
            return ("value", repr(yamlfile.parse(text)[0]))
        except yamlfile.YamlProblem as exc:
            return ("problem", exc.line, exc.message)


@pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without libyaml")
@settings(max_examples=300, deadline=None)
@given(text=documents())
def test_the_fast_reading_equals_pyyaml_safeloader(text: str) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast = _outcome(text, fast=True, monkeypatch=monkeypatch)
        slow = _outcome(text, fast=False, monkeypatch=monkeypatch)
    assert fast == slow, text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a: 1\nb: '1'\nc: 1.5\nd: ~\ne: true\nf: text\n", {"a": 1, "b": "1", "c": 1.5}),
        ("d: 2001-12-14\n", {"d": "2001-12-14"}),  # dates stay text
    ],
)
def test_plain_scalars_are_typed_as_yaml_1_1_types_them(text: str, value: dict[str, Any]) -> None:
    parsed = yamlfile.parse(text)[0]
    assert {k: parsed[k] for k in value} == value
    assert all(type(parsed[k]) is type(v) for k, v in value.items())
    if "e" in parsed:
        assert parsed["d"] is None
        assert parsed["e"] is True


def test_a_key_written_twice_names_both_lines() -> None:
    with pytest.raises(yamlfile.YamlProblem) as caught:
        yamlfile.parse("a: 1\nb: 2\n'a': 3\n")
    assert caught.value.line == 3
    assert "twice (lines 1 and 3)" in caught.value.message


def test_bytes_and_text_read_alike() -> None:
    text = "\ufeffname: Café\naliases: [*x]\n"
    with pytest.raises(yamlfile.YamlProblem) as from_text:
        yamlfile.parse(text)
    with pytest.raises(yamlfile.YamlProblem) as from_bytes:
        yamlfile.parse(text.encode())
    assert from_text.value.message == from_bytes.value.message
    assert yamlfile.parse("\ufeffname: Café\n".encode())[0] == {"name": "Café"}


@pytest.mark.parametrize("tag", ["!!int", "!!float", "!!bool"])
def test_a_type_tag_on_text_of_another_type_is_a_problem_not_a_crash(tag: str) -> None:
    with pytest.raises(yamlfile.YamlProblem) as caught:
        yamlfile.parse(f"name: x\noid: {tag} text\n")
    assert caught.value.line == 2
    assert f"tagged {tag}, which it is not: remove the tag" in caught.value.message

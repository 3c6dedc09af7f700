"""Encode once: a record's canonical JSON serves both its digest and its packed payload, and
gives exactly what encoding twice gives. And the indented writer is the standard library's,
byte for byte, whether orjson writes a value or the slower writer does."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from reconciler.formats import jsontext
from reconciler.formats.jsontext import (
    canonical_json,
    canonical_with_digest,
    digest,
    iter_pretty_json,
    pretty_json,
    rendered,
)
from reconciler.model import Desired

KEYS = st.text(min_size=0, max_size=8)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    # Text with the characters that matter: quotes, backslashes, JSON punctuation, controls.
    | st.text(alphabet=st.sampled_from('ab "\\{}[]:,\n\té😀'), max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(envelope=st.dictionaries(KEYS, SCALARS, max_size=3), payload=VALUES)
def test_one_encoding_gives_the_payload_text_and_the_digest(
    envelope: dict[str, Any], payload: Any
) -> None:
    text, wire_digest = canonical_with_digest(envelope, payload)
    assert text == canonical_json(payload)
    assert wire_digest == digest([envelope, payload])
    assert json.loads(text) == payload


def test_a_desired_record_is_packed_as_its_canonical_json() -> None:
    payload = {"Name": "B", "Active": True, "Address": {"ZIP": "53703", "City": "Madison"}}
    envelope = {"Directory": "Carequality"}
    made = Desired.of(
        kind="organization",
        identity="1.2",
        envelope=envelope,
        payload=payload,
        active=True,
        file="orgs/b.yaml",
        depends_on=(),
    )
    assert made.packed_payload == canonical_json(payload)
    assert made.wire_digest == digest([envelope, payload])
    assert made.payload == payload


def standard(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# Everything JSON holds, and what Python adds: NaN and the infinities, integers past 64 bits,
# tuples, keys that are not strings, a lone surrogate, and text that looks like a float.
ANY_SCALAR = (
    SCALARS
    | st.floats()
    | st.sampled_from([2**63, -(2**63) - 1, 2**64, 1e-05, 1e16, -0.0, "\ud800", "1,2.5", '":3.0'])
)
ANY_VALUE = st.recursive(
    ANY_SCALAR,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(KEYS | st.integers(-3, 3) | st.booleans(), inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=ANY_VALUE)
@example({"\uffff": 1, "\U00010000": 2, "é": 3, "a": 4})  # code-point order, not UTF-16's
@example({"a": [1e-05, float("nan"), float("-inf")]})
@example({"a": '\x00\x1f\x7f\u2028\u2029"\\'})
def test_the_indented_writer_is_the_standard_librarys_byte_for_byte(value: Any) -> None:
    try:
        expected = standard(value)
    except (TypeError, ValueError):
        return  # the standard library refuses it (a lone surrogate is encoded later, if at all)
    assert pretty_json(value) == expected
    assert "".join(iter_pretty_json(value)) + "\n" == expected
    nested = rendered(value, 3)
    assert nested == expected[:-1].replace("\n", "\n      ")


# What a plan document holds: no float, integers within 64 bits, string keys. Its text has no
# digits, so no string can look like a float (a string holding ",2." may send its value the
# slow way, which is allowed).
TEXT = st.text(alphabet=st.sampled_from('ab "\\{}[]:,.\n\téE😀\x00\x1f\u2028'), max_size=12)
PLAIN = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | TEXT,
    lambda inner: (
        st.lists(inner, min_size=1, max_size=4)
        | st.dictionaries(TEXT, inner, min_size=1, max_size=4)
    ),
    max_leaves=30,
).filter(lambda value: isinstance(value, dict | list))


@settings(max_examples=200, deadline=None)
@given(value=PLAIN)
def test_a_value_without_floats_is_written_by_orjson(value: Any) -> None:
    """The fast path is taken where it may be (else every plan pays the slow writer), and its
    text is the standard library's."""
    native = jsontext._native(value)
    assert native is not None
    assert native + "\n" == standard(value)

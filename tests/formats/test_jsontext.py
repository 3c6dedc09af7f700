"""Encode once: a record's canonical JSON serves both its digest and its packed payload, and
gives exactly what encoding twice gives."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.formats.jsontext import canonical_json, canonical_with_digest, digest
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

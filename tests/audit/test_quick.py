"""The fast check of a line (audit/quick.py) never accepts what the full reading refuses, and
accepts the lines the trail writes."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.audit import GENESIS, entry_for
from reconciler.audit.entry import RESULTS, line_hash, line_text, read_line, seal
from reconciler.audit.quick import quick_read
from reconciler.formats import jsonfile

texts = st.text(min_size=1, max_size=40)
calls = st.lists(
    st.fixed_dictionaries(
        {
            "key": st.from_regex(r"(organization|provider):[0-9.]{1,30}", fullmatch=True),
            "action": st.sampled_from(["create", "update", "deactivate", "reactivate"]),
            "status": st.sampled_from(["applied", "failed", "skipped", "in_flight", "adopted"]),
            "redox_log_id": st.none() | texts,
        }
    ),
    max_size=4,
)


# Where the digits' count changes, and the model's bound (2**63 - 1).
EDGES = [10**17 - 1, 10**17, 10**18 - 1, 10**18, 2**63 - 1]


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    draft = entry_for(
        environment=draw(st.sampled_from(["production", "development", "staging-2"])),
        actor=draw(texts),
        via=draw(st.sampled_from(["github", "local"])),
        result=draw(st.sampled_from(RESULTS)),
        commit=draw(st.none() | st.just("ab" * 20)),
        # Up to the model's bound: 19 digits are as plain as 1.
        pull_request=draw(st.none() | st.integers(1, 2**63 - 1) | st.sampled_from(EDGES)),
        approved_by=draw(st.lists(texts, max_size=3)),
        plan_digest=draw(st.none() | st.just("sha256:" + "e" * 64)),
        policy_overrides=draw(st.lists(texts, max_size=2)),
        calls=draw(calls),
    )
    seq = draw(st.integers(1, 2**40) | st.sampled_from(EDGES))
    entry = seal(draft, seq=seq, prev=GENESIS)
    return line_text(entry).encode("utf-8")[:-1]


def slow(raw: bytes) -> tuple[int, str, str, str] | None:
    try:
        _document, entry = read_line(raw)
    except jsonfile.JsonProblem:
        return None
    return entry.seq, entry.prev, entry.hash, entry.environment


def fast(raw: bytes) -> tuple[int, str, str, str] | None:
    found = quick_read(raw)
    return None if found is None else (found.seq, found.prev, found.hash, found.environment)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(lines())
def test_a_written_line_reads_the_same_both_ways(raw: bytes) -> None:
    assert slow(raw) is not None
    quick = fast(raw)
    if quick is not None:
        assert quick == slow(raw)
    elif b"\\" not in raw:  # only a text with an escaped character goes the slow way
        raise AssertionError(f"a plain line was not recognised: {raw!r}")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(lines(), st.randoms(use_true_random=False))
def test_a_changed_line_is_never_accepted_by_the_fast_check_alone(
    raw: bytes, rnd: random.Random
) -> None:
    changed = mutate(raw, rnd)
    quick = fast(changed)
    if quick is not None:
        assert quick == slow(changed), changed


def mutate(raw: bytes, rnd: random.Random) -> bytes:
    """One of the edits a hand, a merge or an attacker might make."""
    document = json.loads(raw)
    how = rnd.randrange(7)
    if how == 0:  # flip a byte
        at = rnd.randrange(len(raw))
        return raw[:at] + bytes([raw[at] ^ (1 << rnd.randrange(8))]) + raw[at + 1 :]
    if how == 1:  # a field changed and the hash made again, keys out of order
        document["actor"] = "someone else"
        document["hash"] = line_hash(document)
        return json.dumps(dict(reversed(document.items())), ensure_ascii=False).encode()
    if how == 2:  # an unknown field, hash made again, written canonically
        document["extra"] = 1
        document["hash"] = line_hash(document)
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    if how == 3:  # a value out of bounds, hash made again, canonical
        document["seq"] = 2**63
        document["hash"] = line_hash(document)
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    if how == 4:  # the hash of another line
        start = raw.index(b'"hash":"sha256:') + len(b'"hash":"sha256:')
        return raw[:start] + b"0" * 64 + raw[start + 64 :]
    if how == 5:  # a call with an unknown status, hash made again, canonical
        bad = {"action": "update", "key": "a:b", "redox_log_id": None, "status": "x"}
        document["calls"] = [bad]
        document["hash"] = line_hash(document)
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    return raw[: rnd.randrange(len(raw))]  # cut short


def test_the_writers_lines_mostly_take_the_fast_way() -> None:
    plain = seal(
        entry_for(environment="production", actor="alice", via="github", result="applied"),
        seq=1,
        prev=GENESIS,
    )
    escaped = seal(
        entry_for(environment="production", actor='al"ice', via="github", result="applied"),
        seq=1,
        prev=GENESIS,
    )
    assert quick_read(line_text(plain).encode()[:-1]) is not None
    assert quick_read(line_text(escaped).encode()[:-1]) is None  # the slow way decides
    assert slow(line_text(escaped).encode()[:-1]) is not None


@pytest.mark.parametrize("field", ["seq", "pull_request"])
@pytest.mark.parametrize("value", [2**63, 10**19])
def test_a_number_beyond_the_bound_is_refused_both_ways(field: str, value: int) -> None:
    draft = entry_for(
        environment="production",
        actor="ci",
        via="github",
        result="applied",
        commit=None,
        pull_request=7,
        approved_by=[],
        plan_digest=None,
        policy_overrides=[],
        calls=[],
    )
    raw = line_text(seal(draft, seq=3, prev=GENESIS)).encode("utf-8")[:-1]
    document = json.loads(raw)
    document[field] = value
    document["hash"] = line_hash(document)  # the hash made again: only the bound refuses it
    changed = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert slow(changed) is None
    assert fast(changed) is None
    document[field] = value - 2**62 if value == 2**63 else 10**18  # in bounds: both accept
    document["hash"] = line_hash(document)
    within = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()
    assert fast(within) == slow(within) is not None
